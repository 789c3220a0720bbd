/**
 * The routing driver: local first, spilling over to a cloud fallback only when local inference cannot
 * answer. It owns the routing policy (strategy, privacy lock, timeouts, circuit breaker, pre-flight
 * context check) and the metrics; the drivers below it know nothing of each other.
 */
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitSnapshot } from './circuit-breaker.js';
import { DriverError } from './errors.js';
import { EventLog, LatencyTracker, tokensPerSecond, type DriverLatency, type RoutingEvent, type RoutingOutcome } from './metrics.js';
import { mostPermissive, mostRestrictive, tierAllowed } from './privacy.js';
import type {
  CompletionRequest,
  CompletionResponse,
  DriverErrorKind,
  DriverRole,
  LlmDriver,
  PrivacyTier,
  RoutingStrategy,
} from './types.js';
import { runWithTimeouts, type TimeoutOptions } from './timeouts.js';

export interface RoutingDriverOptions extends TimeoutOptions {
  primary: LlmDriver;
  fallback?: LlmDriver | null;
  /** Defaults to primary-with-fallback when a fallback is given, else primary-only. */
  strategy?: RoutingStrategy;
  /** The most permissive tier a request may be sent to; null or absent means no lock. */
  privacyLock?: PrivacyTier | null;
  circuitBreaker?: CircuitBreakerOptions;
  /** Clock for the circuit breaker and event times (tests pass a fake one). */
  now?: () => number;
}

/** A JSON-serialisable picture of the router's state and history. */
export interface RouterMetrics {
  strategy: RoutingStrategy;
  privacyLock: PrivacyTier | null;
  privacyTier: PrivacyTier;
  primaryAttempts: number;
  primarySuccesses: number;
  primaryFailures: number;
  spillovers: number;
  fallbackSuccesses: number;
  fallbackFailures: number;
  /** fallbackSuccesses / (fallbackSuccesses + fallbackFailures); 0 when the fallback was never tried. */
  fallbackSuccessRate: number;
  privacyBlocks: number;
  incompleteAnswers: number;
  cancelled: number;
  queueLength: number;
  circuitBreaker: CircuitSnapshot;
  latency: Record<string, DriverLatency>;
  events: RoutingEvent[];
}

/** Kinds that say the primary is unhealthy; overflow and a busy queue say nothing about its health. */
const HEALTH_FAILURES: ReadonlySet<DriverErrorKind> = new Set(['inference_failed', 'model_not_found', 'network', 'timeout']);

export class RoutingDriver implements LlmDriver {
  readonly id = 'router';
  private primary: LlmDriver;
  private fallback: LlmDriver | null;
  private strategy: RoutingStrategy;
  private lock: PrivacyTier | null;
  private timeouts: TimeoutOptions;
  private readonly breaker: CircuitBreaker;
  private readonly now: () => number;
  private readonly counters = {
    primarySuccesses: 0,
    primaryFailures: 0,
    spillovers: 0,
    fallbackSuccesses: 0,
    fallbackFailures: 0,
    privacyBlocks: 0,
    incompleteAnswers: 0,
    cancelled: 0,
  };
  private readonly latency = new Map<string, LatencyTracker>();
  private readonly events = new EventLog(100);
  private readonly listeners = new Set<() => void>();

  constructor(options: RoutingDriverOptions) {
    this.primary = options.primary;
    this.fallback = options.fallback ?? null;
    this.strategy = options.strategy ?? (this.fallback ? 'primary-with-fallback' : 'primary-only');
    this.lock = options.privacyLock ?? null;
    this.timeouts = {
      ...(options.firstTokenTimeoutMs === undefined ? {} : { firstTokenTimeoutMs: options.firstTokenTimeoutMs }),
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    };
    this.now = options.now ?? Date.now;
    this.breaker = new CircuitBreaker(options.circuitBreaker, this.now);
  }

  /** Changes the strategy; applies to the next request. */
  setStrategy(strategy: RoutingStrategy): void {
    this.strategy = strategy;
    this.changed();
  }

  getStrategy(): RoutingStrategy {
    return this.strategy;
  }

  /** Sets the most permissive tier requests may reach; null removes the lock. */
  setPrivacyLock(lock: PrivacyTier | null): void {
    this.lock = lock;
    this.changed();
  }

  getPrivacyLock(): PrivacyTier | null {
    return this.lock;
  }

  /** Replaces the primary driver (another model, other engine options). */
  setPrimary(primary: LlmDriver): void {
    this.primary = primary;
    this.changed();
  }

  /** Replaces or removes the fallback driver (the cloud endpoint changed). */
  setFallback(fallback: LlmDriver | null): void {
    this.fallback = fallback;
    this.changed();
  }

  /** Adjusts the primary's first-token and idle timeouts (0 disables one). */
  setTimeouts(timeouts: TimeoutOptions): void {
    this.timeouts = { ...this.timeouts, ...timeouts };
  }

  /** Adjusts the circuit breaker's threshold and cooldown. */
  setCircuitBreaker(options: CircuitBreakerOptions): void {
    if (options.threshold !== undefined) this.breaker.threshold = options.threshold;
    if (options.cooldownMs !== undefined) this.breaker.cooldownMs = options.cooldownMs;
    this.changed();
  }

  /** Calls `listener` whenever the metrics change; returns the unsubscribe function. */
  onMetricsChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The model of the driver the current strategy tries first. */
  modelName(): string {
    return this.strategy === 'fallback-only' && this.fallback ? this.fallback.modelName() : this.primary.modelName();
  }

  /** The fallback's window under fallback-only (the primary's if there is none), else the primary's. */
  contextWindow(): number {
    if (this.strategy === 'fallback-only') return (this.fallback ?? this.primary).contextWindow();
    return this.primary.contextWindow();
  }

  /**
   * The most permissive tier among the drivers the current strategy may use, capped by the privacy lock.
   * Under primary-only this is the primary's tier alone: the seed reported the most permissive of both
   * drivers whatever the strategy, which told a Local-only user their text might reach the cloud when the
   * router would never send it there.
   */
  privacyTier(): PrivacyTier {
    const usable: LlmDriver[] = [];
    if (this.strategy !== 'fallback-only' || !this.fallback) usable.push(this.primary);
    if (this.strategy !== 'primary-only' && this.fallback) usable.push(this.fallback);
    const tier = mostPermissive(usable.map((driver) => driver.privacyTier()));
    return this.lock === null ? tier : mostRestrictive(tier, this.lock);
  }

  /** Requests waiting in the primary's queue. */
  queueLength(): number {
    return this.primary.queueLength?.() ?? 0;
  }

  /** Routes one request according to the strategy; see the file comment. */
  complete(request: CompletionRequest): Promise<CompletionResponse> {
    return this.completeWith(this.strategy, request);
  }

  /** Routes one request under a given strategy, e.g. "Retry on cloud" for a single answer. */
  async completeWith(strategy: RoutingStrategy, request: CompletionRequest): Promise<CompletionResponse> {
    const primary = this.primary;
    const fallback = this.fallback;
    if (strategy === 'fallback-only') {
      if (!fallback) {
        throw new DriverError('no_fallback', 'Cloud only is selected but no cloud endpoint is configured. Add one in Settings, or switch to Local.');
      }
      this.ensureAllowed(fallback, 'fallback');
      return this.runFallback(fallback, request, 'cloud only', undefined);
    }
    this.ensureAllowed(primary, 'primary');
    const spillTarget = strategy === 'primary-with-fallback' && fallback && tierAllowed(fallback.privacyTier(), this.lock) ? fallback : null;

    const decision = spillTarget ? this.breaker.decide() : 'try';
    if (decision === 'skip' && spillTarget) {
      const snapshot = this.breaker.snapshot();
      const reason = `circuit_open: the local model failed ${snapshot.consecutiveFailures} times in a row and is skipped until ${new Date(snapshot.retryAt ?? this.now()).toISOString()}`;
      this.record('primary', primary.id, 'skipped', reason, 'circuit_open');
      return this.runFallback(spillTarget, request, reason, undefined);
    }

    let failure: DriverError;
    let fallbackFits = true;
    const stream = new StreamTap(request);
    try {
      const overflow = await this.preflight(primary, request, spillTarget);
      if (overflow) {
        failure = overflow.error;
        fallbackFits = overflow.fallbackFits;
      } else {
        request.onRoute?.({ role: 'primary', driverId: primary.id, model: primary.modelName() });
        const response = await runWithTimeouts(primary, { ...request, onText: stream.onText }, this.timeouts);
        return this.primaryAnswered(response, decision, strategy);
      }
    } catch (error) {
      failure = DriverError.from(error);
    }
    // A driver that fails after the user cancelled is still a cancel: never spill a cancelled request over.
    if (failure.kind === 'aborted' || request.signal?.aborted) {
      if (decision === 'probe') this.breaker.release();
      this.counters.cancelled++;
      this.record('primary', primary.id, 'aborted', 'cancelled by the user');
      throw failure;
    }
    // A pre-flight overflow counts as a primary failure too: the primary was chosen and could not answer.
    this.counters.primaryFailures++;
    if (HEALTH_FAILURES.has(failure.kind)) this.breaker.failure();
    else if (decision === 'probe') this.breaker.release();
    const reason = `${failure.kind}: ${failure.message}`;

    if (stream.text !== '') return this.incomplete(primary, 'primary', stream, failure, reason);
    if (!failure.retryable || !fallbackFits || strategy !== 'primary-with-fallback' || !fallback) {
      this.record('primary', primary.id, 'failure', reason, failure.kind);
      throw failure;
    }
    if (!spillTarget) {
      this.counters.privacyBlocks++;
      this.record('primary', primary.id, 'blocked', reason, 'privacy_blocked');
      throw new DriverError(
        'privacy_blocked',
        `The local model could not answer (${failure.message}) and the privacy lock keeps this conversation on this computer, so it was not sent to ${fallback.modelName()}.`,
        { cause: failure },
      );
    }
    this.counters.spillovers++;
    this.record('primary', primary.id, 'spillover', reason, failure.kind);
    return this.runFallback(spillTarget, request, `spilled over after ${reason}`, failure);
  }

  /** A JSON-serialisable snapshot of counters, breaker state, latency and recent events. */
  metrics(): RouterMetrics {
    const c = this.counters;
    const fallbackTries = c.fallbackSuccesses + c.fallbackFailures;
    return {
      strategy: this.strategy,
      privacyLock: this.lock,
      privacyTier: this.privacyTier(),
      primaryAttempts: c.primarySuccesses + c.primaryFailures,
      ...c,
      fallbackSuccessRate: fallbackTries === 0 ? 0 : c.fallbackSuccesses / fallbackTries,
      queueLength: this.queueLength(),
      circuitBreaker: this.breaker.snapshot(),
      latency: Object.fromEntries([...this.latency].map(([id, tracker]) => [id, tracker.snapshot()])),
      events: this.events.snapshot(),
    };
  }

  private ensureAllowed(driver: LlmDriver, role: DriverRole): void {
    if (tierAllowed(driver.privacyTier(), this.lock)) return;
    this.counters.privacyBlocks++;
    this.record(role, driver.id, 'blocked', `privacy lock (${this.lock}) forbids a ${driver.privacyTier()} endpoint`, 'privacy_blocked');
    throw new DriverError(
      'privacy_blocked',
      `The privacy lock allows only ${this.lock} endpoints, and ${driver.modelName()} is ${driver.privacyTier()}: nothing was sent.`,
    );
  }

  /**
   * Counts the prompt with the primary's tokenizer before generating. node-llama-cpp would shift the
   * context and silently drop the start of the conversation, possibly the latest message; we spill over
   * when the fallback's window fits, or refuse.
   */
  private async preflight(
    primary: LlmDriver,
    request: CompletionRequest,
    spillTarget: LlmDriver | null,
  ): Promise<{ error: DriverError; fallbackFits: boolean } | null> {
    if (!primary.countTokens) return null;
    const promptTokens = await primary.countTokens(request.messages);
    const window = primary.contextWindow();
    const needed = promptTokens + (request.maxTokens ?? 1);
    if (window <= 0 || needed <= window) return null;
    const answer = request.maxTokens ? ` plus ${request.maxTokens} for the answer` : '';
    const fallbackFits = spillTarget !== null && spillTarget.contextWindow() >= needed;
    const cloud = spillTarget && !fallbackFits ? ` The cloud model's ${spillTarget.contextWindow()} tokens are not enough either.` : '';
    const error = new DriverError(
      'context_overflow',
      `The conversation needs ${promptTokens} tokens${answer}, more than the local model's context of ${window} tokens.${cloud}`,
    );
    return { error, fallbackFits };
  }

  private primaryAnswered(response: CompletionResponse, decision: string, strategy: RoutingStrategy): CompletionResponse {
    const reason = decision === 'probe' ? 'local model probed after the circuit cooldown' : strategy === 'primary-only' ? 'local only' : 'local first';
    if (response.stopReason === 'aborted') {
      // Drivers resolve a cancel with the partial text; it says nothing about the primary's health.
      this.breaker.release();
      this.counters.cancelled++;
      this.record('primary', response.driverId, 'aborted', 'cancelled by the user', undefined, response.timings.totalMs);
    } else {
      this.breaker.success();
      this.counters.primarySuccesses++;
      this.observe(response);
      this.answered('primary', response, reason);
    }
    return { ...response, role: 'primary', routeReason: reason };
  }

  private async runFallback(fallback: LlmDriver, request: CompletionRequest, reason: string, spilledAfter: DriverError | undefined): Promise<CompletionResponse> {
    const stream = new StreamTap(request);
    request.onRoute?.({ role: 'fallback', driverId: fallback.id, model: fallback.modelName() });
    try {
      const response = await fallback.complete({ ...request, onText: stream.onText });
      if (response.stopReason === 'aborted') {
        this.counters.cancelled++;
        this.record('fallback', response.driverId, 'aborted', 'cancelled by the user', undefined, response.timings.totalMs);
      } else {
        this.counters.fallbackSuccesses++;
        this.observe(response);
        this.answered('fallback', response, reason);
      }
      return { ...response, role: 'fallback', routeReason: reason, ...(spilledAfter ? { spilledAfter: spilledAfter.toData() } : {}) };
    } catch (error) {
      const failure = DriverError.from(error);
      if (failure.kind === 'aborted' || request.signal?.aborted) {
        this.counters.cancelled++;
        this.record('fallback', fallback.id, 'aborted', 'cancelled by the user');
        throw failure;
      }
      this.counters.fallbackFailures++;
      const why = `${failure.kind}: ${failure.message}`;
      if (stream.text !== '') return this.incomplete(fallback, 'fallback', stream, failure, why);
      this.record('fallback', fallback.id, 'failure', why, failure.kind);
      if (!spilledAfter) throw failure;
      throw new DriverError(failure.kind, `${failure.message} (the cloud was asked because the local model failed: ${spilledAfter.message})`, {
        cause: failure,
        ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
      });
    }
  }

  /** A failure after text has streamed: the answer ends here, marked incomplete; it never continues elsewhere. */
  private incomplete(driver: LlmDriver, role: DriverRole, stream: StreamTap, failure: DriverError, reason: string): CompletionResponse {
    this.counters.incompleteAnswers++;
    this.record(role, driver.id, 'incomplete', reason, failure.kind);
    return {
      text: stream.text,
      driverId: driver.id,
      model: driver.modelName(),
      usage: { inputTokens: 0, outputTokens: stream.pieces },
      timings: stream.timings(),
      stopReason: 'error',
      role,
      routeReason: `stopped mid-answer after ${reason}`,
      incomplete: failure.toData(),
    };
  }

  private observe(response: CompletionResponse): void {
    if (response.stopReason === 'aborted') return;
    let tracker = this.latency.get(response.driverId);
    if (!tracker) this.latency.set(response.driverId, (tracker = new LatencyTracker()));
    tracker.add({ timeToFirstTokenMs: response.timings.timeToFirstTokenMs, totalMs: response.timings.totalMs, outputTokens: response.usage.outputTokens });
  }

  private answered(role: DriverRole, response: CompletionResponse, reason: string): void {
    const tps = tokensPerSecond({ ...response.timings, outputTokens: response.usage.outputTokens });
    this.record(role, response.driverId, 'success', reason, undefined, response.timings.totalMs, tps);
  }

  private record(
    role: DriverRole,
    driverId: string,
    outcome: RoutingOutcome,
    reason?: string,
    kind?: DriverErrorKind,
    latencyMs?: number,
    tps?: number | null,
  ): void {
    this.events.push({
      at: this.now(),
      driverId,
      role,
      outcome,
      ...(kind ? { kind } : {}),
      ...(reason ? { reason } : {}),
      ...(latencyMs === undefined ? {} : { latencyMs: Math.round(latencyMs * 100) / 100 }),
      ...(tps === undefined || tps === null ? {} : { tokensPerSecond: Math.round(tps * 10) / 10 }),
    });
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Forwards streamed text to the caller while remembering it, for answers cut short mid-stream. */
class StreamTap {
  text = '';
  pieces = 0;
  private readonly started = performance.now();
  private firstAt: number | null = null;

  constructor(private readonly request: CompletionRequest) {}

  readonly onText = (text: string): void => {
    this.firstAt ??= performance.now();
    this.text += text;
    this.pieces++;
    this.request.onText?.(text);
  };

  timings(): { timeToFirstTokenMs: number | null; totalMs: number } {
    return { timeToFirstTokenMs: this.firstAt === null ? null : this.firstAt - this.started, totalMs: performance.now() - this.started };
  }
}
