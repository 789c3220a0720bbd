/**
 * The route as settings describe it: builds the local entry and one endpoint driver per configured
 * endpoint, rebuilds what changed when settings change, and reports the router's state, metrics and the
 * local engine's status.
 */
import type { Capability, ConnectionTest, ConversationPin, EndpointSettings, EngineStatus, ModelInspection, RouteEntryInfo, RouterState, Settings } from '../contract/index.js';
import { CAPABILITIES } from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import type { EgressRecorder } from '../core/egress.js';
import { mostPermissive, mostRestrictive, tierAllowed } from '../core/privacy.js';
import { canonicalStrategy, entryCapabilities, entryName, strategyOrder, type RouteEntry } from '../core/route.js';
import { RoutingDriver, type RouteOptions } from '../core/router.js';
import type { CompletionRequest, CompletionResponse, EmbeddingResponse, LlmDriver, PrivacyTier } from '../core/types.js';
import type { HostLauncher } from '../drivers/host-process.js';
import { dropSavedPrompt, LocalDriver } from '../drivers/local-driver.js';
import { ModelInspector } from '../drivers/model-inspector.js';
import type { EngineOptions } from '../inference/protocol.js';
import { RemoteDriver } from '../drivers/remote-driver.js';
import { ServiceError, toAppError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { SettingsService } from './settings-service.js';

/** Stands in for the local model until one is set up, so the route and the UI still work (cloud only). */
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
  settings: SettingsService;
  events: EventHub;
  egress: EgressRecorder;
  launcher?: HostLauncher;
  /** Where the local engine saves evicted conversations' prompt state; absent: not saved. */
  stateCacheDir?: string;
}

/** What an endpoint can do: as declared, else as it said when tested, else assumed (it will say if not). */
export function endpointCapabilities(endpoint: EndpointSettings): Capability[] {
  return CAPABILITIES.filter((c) => endpoint.capabilities[c] ?? endpoint.learned[c] ?? true);
}

export class RouterService {
  private readonly router: RoutingDriver;
  private local: LocalDriver | null = null;
  private localConfig = '';
  private settings: Settings;
  private crashesBefore = 0;
  private readonly inspector: ModelInspector;
  private metricsTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: RouterServiceOptions) {
    const settings = (this.settings = options.settings.current());
    this.inspector = new ModelInspector(options.launcher ? { launcher: options.launcher } : {});
    this.router = new RoutingDriver({ route: [], strategy: settings.routing.strategy, ceiling: settings.routing.ceiling, egress: options.egress });
    this.apply(settings, true);
    // Metrics change on every request; a UI needs a few updates a second at most. The route's state goes
    // with them: a breaker that opens or closes changes which entry answers next.
    this.router.onMetricsChange(() => {
      this.metricsTimer ??= setTimeout(() => {
        this.metricsTimer = null;
        this.options.events.emit('metrics:update', this.router.metrics());
        this.options.events.emit('router:update', this.state());
      }, 100);
    });
    options.settings.onChange((next) => this.apply(next));
  }

  /** Routes one chat request; `options` carry a conversation's pin, consent and ledger id. */
  route(request: CompletionRequest, options: RouteOptions = {}): Promise<CompletionResponse> {
    if (this.mayLearnTools(request, options)) {
      // Whether the local model calls tools is known once it has loaded: a request that needs tools waits
      // for that (or for its cancel) instead of passing the local model by. A failed load routes on without it.
      const loaded = this.local!.load().then(() => {}, () => {});
      const cancelled = new Promise<void>((resolve) => request.signal?.addEventListener('abort', () => resolve(), { once: true }));
      return Promise.race([loaded, cancelled]).then(() => this.router.routeRequest(request, options));
    }
    return this.router.routeRequest(request, options);
  }

  /** The request needs tools and the local model, which the route would try first, has not loaded yet. */
  private mayLearnTools(request: CompletionRequest, options: RouteOptions): boolean {
    if (!this.local || !request.needs?.includes('tools') || this.local.info() !== null || this.local.status().state === 'error') return false;
    return this.router.plan(options).candidates[0]?.driver.id === this.local.id;
  }

  /** Routes an embeddings request to the first entry that makes embeddings. */
  embed(input: string[], options: RouteOptions & { signal?: AbortSignal; forward?: Record<string, unknown> } = {}): Promise<EmbeddingResponse> {
    return this.router.embed(input, options);
  }

  /** The route under the app's strategy and ceiling, or under a conversation's pin. */
  state(pin: ConversationPin | null = null): RouterState {
    const { routing } = this.settings;
    const strategy = pin?.strategy ?? this.router.getStrategy();
    const ceiling = pin?.ceiling ? mostRestrictive(this.router.getCeiling(), pin.ceiling) : this.router.getCeiling();
    const inStrategy = new Set(pin?.entryId ? [pin.entryId] : strategyOrder(canonicalStrategy(strategy), this.router.route()).map((e) => e.driver.id));
    const route: RouteEntryInfo[] = this.router.route().map((entry) => {
      const info = describeEntry(entry);
      if (!inStrategy.has(info.id)) info.excluded = 'strategy';
      else if (!tierAllowed(info.tier, ceiling)) info.excluded = 'ceiling';
      return info;
    });
    const next = this.router.nextEntry({ ...(pin?.strategy ? { strategy: pin.strategy } : {}), ...(pin?.ceiling ? { ceiling: pin.ceiling } : {}), ...(pin?.entryId ? { entryId: pin.entryId } : {}) });
    const usable = route.filter((e) => e.excluded === undefined).map((e) => e.tier);
    return {
      strategy,
      ceiling,
      askBeforeSending: routing.askBeforeSending,
      privacyTier: mostPermissive(usable),
      route,
      next: next?.driver.id ?? null,
    };
  }

  metrics() {
    return this.router.metrics();
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

  /** The GGUF model chosen to make the local embeddings, or null when the chat model makes them. */
  embeddingModelPath(): string | null {
    return this.settings.local.modelPath ? (this.settings.local.embeddingModelPath ?? null) : null;
  }

  /** Tries a saved endpoint (by id) or a draft; what the endpoint says about its model is remembered. */
  async testEndpoint(request: { id?: string; baseURL?: string; model?: string; apiKey?: string }): Promise<ConnectionTest> {
    const saved = request.id === undefined ? undefined : this.settings.endpoints.find((e) => e.id === request.id);
    if (request.id !== undefined && !saved) throw new ServiceError('NOT_FOUND', `There is no endpoint "${request.id}".`, 'id');
    const baseURL = request.baseURL ?? saved?.baseURL;
    if (!baseURL) throw new ServiceError('INVALID_ARGUMENT', 'Enter the endpoint’s base URL first.', 'baseURL');
    const model = request.model ?? (saved?.model || 'test');
    const apiKey = request.apiKey ?? (saved ? this.options.settings.key(saved.id) : null);
    const driver = new RemoteDriver({ baseURL, model, ...(apiKey ? { apiKey } : {}), requestTimeoutMs: 15_000 });
    const result = await driver.testConnection(AbortSignal.timeout(15_000));
    if (saved && saved.baseURL === baseURL && saved.model === model) await this.options.settings.learn(saved.id, result.learned);
    return { latencyMs: Math.round(result.latencyMs), models: result.models, learned: result.learned };
  }

  /** Describes a GGUF file and its fit in a short-lived process of its own, never on the engine's host. */
  inspect(path: string): Promise<ModelInspection> {
    return this.inspector.inspect(path, this.settings.local.contextSize ?? undefined);
  }

  /** A conversation was deleted: the local engine drops its cached prompt, in memory and on disk. */
  async forgetConversation(id: string): Promise<void> {
    if (this.local) await this.local.forget(id);
    else if (this.options.stateCacheDir) await dropSavedPrompt(this.options.stateCacheDir, id);
  }

  /** Loads the local model in the background so the first message does not wait for it. */
  warmUp(): void {
    // A failed load shows in the engine status; the request that needs the model reports it too.
    this.local?.load().catch(() => {});
  }

  /** True while the local model is generating or has requests waiting. */
  localBusy(): boolean {
    return this.local?.isBusy() ?? false;
  }

  async dispose(): Promise<void> {
    if (this.metricsTimer) clearTimeout(this.metricsTimer);
    this.inspector.dispose();
    await this.local?.dispose();
  }

  /** Applies settings, rebuilding the local engine only when its own settings changed. */
  private apply(next: Settings, initial = false): void {
    this.settings = next;
    const { routing } = next;
    this.router.setStrategy(routing.strategy);
    this.router.setCeiling(routing.ceiling);
    this.router.setTimeouts({
      loadTimeoutMs: routing.loadTimeoutMs,
      firstTokenTimeoutMs: routing.firstTokenTimeoutMs,
      idleTimeoutMs: routing.idleTimeoutMs,
      cloudTimeoutMs: routing.cloudTimeoutMs,
    });
    this.router.setCircuitBreaker({ threshold: routing.circuitThreshold, cooldownMs: routing.circuitCooldownMs });
    const localConfig = JSON.stringify(next.local);
    const rebuildLocal = localConfig !== this.localConfig;
    if (rebuildLocal) this.buildLocal(next);
    this.localConfig = localConfig;
    this.router.setRoute([{ driver: this.local ?? new NoLocalModel(), kind: 'local' }, ...this.buildEndpoints(next)]);
    // Like LM Studio: choosing a model loads it, so the first message does not wait.
    if (rebuildLocal && !initial) this.warmUp();
    this.options.events.emit('router:update', this.state());
  }

  /**
   * Points the local engine at the settings' model. The driver is kept across switches, so answers being
   * written end as `switched` and waiting requests run on the new model; removing the model retires it.
   */
  private buildLocal(settings: Settings): void {
    const previous = this.local;
    const options = settings.local.modelPath ? this.engineOptions(settings.local.modelPath, settings) : null;
    if (previous && options) {
      void previous.reconfigure(options).catch(() => {});
    } else {
      if (previous) {
        this.crashesBefore += previous.crashCount();
        void previous.retire();
      }
      this.local = options
        ? new LocalDriver({
            ...options,
            ...(this.options.launcher ? { launcher: this.options.launcher } : {}),
            onStatusChange: () => {
              // A model that loads (or fails to) changes its name and what answers next.
              this.options.events.emit('engine:update', this.engineStatus());
              this.options.events.emit('router:update', this.state());
            },
          })
        : null;
    }
    this.options.events.emit('engine:update', this.engineStatus());
  }

  /** Every engine option the settings decide; unset ones are undefined so a switch clears them. */
  private engineOptions(modelPath: string, settings: Settings): EngineOptions {
    const { threads, gpuLayers, contextSize, parallel, embeddingModelPath } = settings.local;
    return {
      modelPath,
      gpuLayers,
      threads: threads ?? undefined,
      contextSize: contextSize ?? undefined,
      parallel: parallel ?? undefined,
      embeddingModelPath: embeddingModelPath ?? undefined,
      stateCacheDir: this.options.stateCacheDir,
    };
  }

  /** One driver per enabled endpoint that names a model; one that cannot be built is left out, not fatal. */
  private buildEndpoints(settings: Settings): RouteEntry[] {
    const entries: RouteEntry[] = [];
    for (const endpoint of settings.endpoints) {
      if (!endpoint.enabled || !endpoint.model.trim()) continue;
      const apiKey = this.options.settings.key(endpoint.id);
      try {
        const driver = new RemoteDriver({
          id: endpoint.id,
          name: endpoint.name,
          baseURL: endpoint.baseURL,
          model: endpoint.model,
          contextWindow: endpoint.contextWindow,
          privacyTier: endpoint.tier,
          capabilities: endpointCapabilities(endpoint),
          requestTimeoutMs: settings.routing.cloudTimeoutMs,
          ...(apiKey ? { apiKey } : {}),
        });
        entries.push({ driver, kind: 'remote' });
      } catch {
        // Settings validation refuses what the driver would; nothing else can fail here.
      }
    }
    return entries;
  }
}

/** An entry as the contract describes it. */
function describeEntry(entry: RouteEntry): RouteEntryInfo {
  const driver = entry.driver;
  return {
    id: driver.id,
    kind: entry.kind,
    name: entry.kind === 'local' ? 'Local model' : entryName(entry),
    model: driver.modelName(),
    host: driver.endpointHost?.() ?? null,
    tier: driver.privacyTier(),
    capabilities: [...entryCapabilities(entry)],
    contextWindow: driver.contextWindow(),
  };
}
