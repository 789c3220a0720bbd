/**
 * Builds the drivers and the router from settings, rebuilds what changed when settings change, and
 * tracks the local engine's state for the UI.
 */
import { DriverError } from '../core/errors.js';
import { RoutingDriver } from '../core/router.js';
import type { CompletionRequest, CompletionResponse, LlmDriver, PrivacyTier } from '../core/types.js';
import type { ConnectionTest, EngineStatus, RouterState, Settings } from '../contract/index.js';
import type { HostLauncher } from '../drivers/host-process.js';
import type { ModelInspection } from '../inference/protocol.js';
import { LocalDriver } from '../drivers/local-driver.js';
import { RemoteDriver } from '../drivers/remote-driver.js';
import { toAppError } from './errors.js';
import type { EventHub } from './event-hub.js';

/** Stands in for the local model until one is set up, so the router and the UI still work (cloud only). */
class NoLocalModel implements LlmDriver {
  readonly id = 'local';
  modelName(): string {
    return 'no local model';
  }
  contextWindow(): number {
    return 0;
  }
  privacyTier(): PrivacyTier {
    return 'sovereign';
  }
  async complete(): Promise<CompletionResponse> {
    throw new DriverError('model_not_found', 'No local model is set up yet. Choose a GGUF model in Settings, or use Cloud only.');
  }
}

export interface RouterServiceOptions {
  settings: Settings;
  apiKey: string | null;
  events: EventHub;
  launcher?: HostLauncher;
}

export class RouterService {
  readonly router: RoutingDriver;
  private local: LocalDriver | null = null;
  private remote: RemoteDriver | null = null;
  private settings: Settings;
  private apiKey: string | null;
  private crashesBefore = 0;
  private inspector: LocalDriver | null = null;
  private metricsTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: RouterServiceOptions) {
    this.settings = options.settings;
    this.apiKey = options.apiKey;
    this.router = new RoutingDriver({
      primary: new NoLocalModel(),
      strategy: options.settings.routing.strategy,
      privacyLock: options.settings.routing.privacyLock,
      firstTokenTimeoutMs: options.settings.routing.firstTokenTimeoutMs,
      idleTimeoutMs: options.settings.routing.idleTimeoutMs,
      circuitBreaker: { threshold: options.settings.routing.circuitThreshold, cooldownMs: options.settings.routing.circuitCooldownMs },
    });
    this.buildLocal();
    this.buildRemote();
    // Metrics change on every request; a UI needs a few updates a second at most.
    this.router.onMetricsChange(() => {
      this.metricsTimer ??= setTimeout(() => {
        this.metricsTimer = null;
        this.options.events.emit('metrics:update', this.router.metrics());
      }, 100);
    });
  }

  /** Applies new settings (and key), rebuilding only the drivers whose configuration changed. */
  apply(next: Settings, apiKey: string | null): void {
    const prev = this.settings;
    this.settings = next;
    const keyChanged = apiKey !== this.apiKey;
    this.apiKey = apiKey;
    this.router.setStrategy(next.routing.strategy);
    this.router.setPrivacyLock(next.routing.privacyLock);
    this.router.setTimeouts({ firstTokenTimeoutMs: next.routing.firstTokenTimeoutMs, idleTimeoutMs: next.routing.idleTimeoutMs });
    this.router.setCircuitBreaker({ threshold: next.routing.circuitThreshold, cooldownMs: next.routing.circuitCooldownMs });
    if (JSON.stringify(prev.local) !== JSON.stringify(next.local)) {
      this.buildLocal();
      // Like LM Studio: choosing a model loads it, so the first message does not wait.
      this.warmUp();
    }
    if (keyChanged || JSON.stringify(prev.cloud) !== JSON.stringify(next.cloud)) this.buildRemote();
    this.options.events.emit('router:update', this.state());
  }

  /** Loads the local model in the background so the first message does not wait for it. */
  warmUp(): void {
    // A failed load shows in the engine status; the request that needs the model reports it too.
    this.local?.load().catch(() => {});
  }

  /** Routes one request with the current strategy, or a forced one. */
  complete(request: CompletionRequest, forceCloud = false): Promise<CompletionResponse> {
    return forceCloud ? this.router.completeWith('fallback-only', request) : this.router.complete(request);
  }

  state(): RouterState {
    let cloudHost: string | null = null;
    if (this.settings.cloud.baseURL) cloudHost = new URL(this.settings.cloud.baseURL).host;
    return {
      strategy: this.router.getStrategy(),
      privacyLock: this.router.getPrivacyLock(),
      privacyTier: this.router.privacyTier(),
      cloudHost,
      hasLocalModel: this.local !== null,
      hasCloud: this.remote !== null,
    };
  }

  engineStatus(): EngineStatus {
    const local = this.local;
    const status = local?.status();
    return {
      state: status?.state ?? 'no-model',
      modelPath: this.settings.local.modelPath,
      info: local?.info() ?? null,
      error: status?.error ? toAppError(status.error) : null,
      queueLength: local?.queueLength() ?? 0,
      crashes: this.crashesBefore + (local?.crashCount() ?? 0),
    };
  }

  /** Tries the saved cloud endpoint or the given one. */
  async testConnection(override: { baseURL?: string; model?: string; apiKey?: string }): Promise<ConnectionTest> {
    const baseURL = override.baseURL ?? this.settings.cloud.baseURL;
    if (!baseURL) throw new DriverError('no_fallback', 'No cloud endpoint is configured: enter a base URL first.');
    const driver = new RemoteDriver({
      baseURL,
      model: override.model ?? (this.settings.cloud.model || 'test'),
      ...(override.apiKey ?? this.apiKey ? { apiKey: (override.apiKey ?? this.apiKey)! } : {}),
      requestTimeoutMs: 15_000,
    });
    const result = await driver.testConnection(AbortSignal.timeout(15_000));
    return { latencyMs: Math.round(result.latencyMs), models: result.models };
  }

  /** Describes a GGUF file and its fit, through the inference host (the only place that reads GGUF). */
  inspect(path: string): Promise<ModelInspection> {
    const contextSize = this.settings.local.contextSize ?? undefined;
    if (this.local) return this.local.inspect(path, contextSize);
    // With no model configured there is no engine; a host that never loads a model answers instead.
    this.inspector ??= new LocalDriver({ id: 'inspector', modelPath: '', ...(this.options.launcher ? { launcher: this.options.launcher } : {}) });
    return this.inspector.inspect(path, contextSize);
  }

  /** True while the local model is generating or has requests waiting. */
  localBusy(): boolean {
    return this.local?.isBusy() ?? false;
  }

  async dispose(): Promise<void> {
    if (this.metricsTimer) clearTimeout(this.metricsTimer);
    await Promise.all([this.local?.dispose(), this.inspector?.dispose()]);
  }

  private buildLocal(): void {
    const previous = this.local;
    if (previous) {
      this.crashesBefore += previous.crashCount();
      void previous.dispose();
    }
    const { modelPath, threads, gpuLayers, contextSize } = this.settings.local;
    this.local = modelPath
      ? new LocalDriver({
          modelPath,
          gpuLayers,
          ...(threads === null ? {} : { threads }),
          ...(contextSize === null ? {} : { contextSize }),
          ...(this.options.launcher ? { launcher: this.options.launcher } : {}),
          onStatusChange: () => this.emitEngine(),
        })
      : null;
    this.router.setPrimary(this.local ?? new NoLocalModel());
    this.emitEngine();
  }

  private buildRemote(): void {
    const { baseURL, model, contextWindow, privacyTier } = this.settings.cloud;
    this.remote =
      baseURL && model
        ? new RemoteDriver({
            baseURL,
            model,
            contextWindow,
            ...(privacyTier ? { privacyTier } : {}),
            ...(this.apiKey ? { apiKey: this.apiKey } : {}),
          })
        : null;
    this.router.setFallback(this.remote);
  }

  private emitEngine(): void {
    this.options.events.emit('engine:update', this.engineStatus());
  }
}
