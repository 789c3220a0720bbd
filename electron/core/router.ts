/**
 * The routing driver: an ordered route of entries — the local engine, then OpenAI-compatible endpoints (a
 * LAN server, cloud providers) — tried in the order the strategy gives. It moves to the next entry only on
 * a failure another entry may not share, and only before any text has streamed. It owns the policy
 * (strategy, privacy ceiling, a deadline on every step, a circuit breaker per entry, the pre-flight context
 * check, capability routing, consent and the egress record) and the metrics; the drivers know nothing of
 * each other. The first build's two-driver surface (`primary`, `fallback`, its strategy names and counters)
 * is the special case of a route with one local entry and one endpoint.
 */
import type { EgressWhy, EntryMetrics, RouterMetrics, RoutingEvent, RoutingOutcome } from '../contract/index.js';
import type { CircuitBreakerOptions, CircuitDecision, CircuitSnapshot } from './circuit-breaker.js';
import { DEFAULT_CLOUD_TIMEOUT_MS, DEFAULT_FIRST_TOKEN_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LOAD_TIMEOUT_MS, raceSignal, runAttempt, withDeadline, type Deadlines } from './deadlines.js';
import type { ConsentHook, EgressHandle, EgressRecorder } from './egress.js';
import { EntryStats } from './entry-stats.js';
import { DriverError } from './errors.js';
import { EventLog, tokensPerSecond } from './metrics.js';
import { describeCeiling, mostPermissive, mostRestrictive } from './privacy.js';
import { canonicalStrategy, describeCapability, entryName, planRoute, strategyOrder, type RouteEntry, type RoutePlan, type StrategyName } from './route.js';
import {
  requestNeeds,
  type CompletionRequest,
  type CompletionResponse,
  type DriverErrorKind,
  type EmbeddingResponse,
  type LlmDriver,
  type PrivacyTier,
  type RoutingStrategy,
} from './types.js';

export interface RouterTimeouts {
  /** Longest wait for the local model to load (default 120 000; 0 disables). */
  loadTimeoutMs?: number;
  /** Longest wait for the local model's first text, prompt counting included (default 120 000; 0 disables). */
  firstTokenTimeoutMs?: number;
  /** Longest silence between the local model's pieces (default 30 000; 0 disables). */
  idleTimeoutMs?: number;
  /** An endpoint's limit on its first text and on any silence after (default 60 000; 0 disables). */
  cloudTimeoutMs?: number;
}

export interface RoutingDriverOptions extends RouterTimeouts {
  /** The route, in order; local entries and endpoints. Alternatively `primary` and `fallback`. */
  route?: RouteEntry[];
  /** The first build's form: the local entry. */
  primary?: LlmDriver;
  /** The first build's form: one endpoint. */
  fallback?: LlmDriver | null;
  /** Defaults to local first when the route has an endpoint, else local only. */
  strategy?: StrategyName;
  /** The most permissive tier a request may reach (default standard: anywhere). */
  ceiling?: PrivacyTier;
  /** The first build's name for the ceiling; null means none. */
  privacyLock?: PrivacyTier | null;
  circuitBreaker?: CircuitBreakerOptions;
  /** Records every request that leaves this machine before it is sent. */
  egress?: EgressRecorder;
  /** Clock for the circuit breakers and event times (tests pass a fake one). */
  now?: () => number;
}

/** One request's routing, beyond the router's own settings. */
export interface RouteOptions {
  strategy?: StrategyName;
  /** Tightens the router's ceiling for this request (a conversation's pin); never loosens it. */
  ceiling?: PrivacyTier;
  /** Only this entry may answer (a pinned entry, a model chosen by name). */
  entryId?: string;
  /** `retry`: the person asked for this answer again on the endpoints. */
  reason?: 'retry';
  /** Asked before the request leaves this machine; absent means do not ask. */
  consent?: ConsentHook;
  /** For the egress record; absent means the OpenAI-compatible API. */
  conversationId?: string;
}

/** Failures that say an entry is unhealthy; overflow and a busy queue say nothing about its health. */
const HEALTH_FAILURES: ReadonlySet<DriverErrorKind> = new Set(['inference_failed', 'model_not_found', 'network', 'timeout']);

const STRATEGY_WORDS: Record<RoutingStrategy, string> = {
  'local-first': 'local first',
  'local-only': 'local only',
  'cloud-only': 'cloud only',
  'cloud-first': 'cloud first',
};

/** One request on its way along the route. */
interface Run {
  readonly request: CompletionRequest;
  readonly options: RouteOptions;
  readonly strategy: RoutingStrategy;
  readonly ceiling: PrivacyTier;
  readonly plan: RoutePlan;
  /** Candidates not tried yet. */
  queue: RouteEntry[];
  /** Each entry that failed or was passed by, in order. */
  failures: Array<{ entry: RouteEntry; failure: DriverError; skipped: boolean }>;
  /** Prompt plus answer tokens, once an entry with a tokenizer has counted. */
  needed: number | null;
  promptTokens: number | null;
  /** Entries passed by because their window is smaller than `needed`. */
  tooSmall: RouteEntry[];
  keptHere: boolean;
}

type Step = { done: true; response: CompletionResponse } | { done: false };

export class RoutingDriver implements LlmDriver {
  readonly id = 'router';
  private entries: RouteEntry[];
  private strategy: RoutingStrategy;
  private ceiling: PrivacyTier;
  private timeouts: Required<RouterTimeouts>;
  private breakerOptions: CircuitBreakerOptions;
  private egress: EgressRecorder | null;
  private readonly now: () => number;
  private readonly stats = new Map<string, EntryStats>();
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
  private readonly events = new EventLog(100);
  private readonly listeners = new Set<() => void>();

  constructor(options: RoutingDriverOptions) {
    if (options.route) this.entries = [...options.route];
    else if (options.primary) this.entries = [{ driver: options.primary, kind: 'local' }, ...(options.fallback ? [{ driver: options.fallback, kind: 'remote' as const }] : [])];
    else throw new TypeError('RoutingDriver needs a route, or a primary driver.');
    this.strategy = canonicalStrategy(options.strategy ?? (this.entries.some((e) => e.kind === 'remote') ? 'local-first' : 'local-only'));
    this.ceiling = options.ceiling ?? options.privacyLock ?? 'standard';
    this.timeouts = {
      loadTimeoutMs: options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS,
      firstTokenTimeoutMs: options.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      cloudTimeoutMs: options.cloudTimeoutMs ?? DEFAULT_CLOUD_TIMEOUT_MS,
    };
    this.breakerOptions = options.circuitBreaker ?? {};
    this.egress = options.egress ?? null;
    this.now = options.now ?? Date.now;
  }

  // ------------------------------------------------------------------------------------------- settings

  /** Changes the strategy; applies to the next request. */
  setStrategy(strategy: StrategyName): void {
    this.strategy = canonicalStrategy(strategy);
    this.changed();
  }

  getStrategy(): RoutingStrategy {
    return this.strategy;
  }

  /** Sets the most permissive tier any request may reach. */
  setCeiling(ceiling: PrivacyTier): void {
    this.ceiling = ceiling;
    this.changed();
  }

  getCeiling(): PrivacyTier {
    return this.ceiling;
  }

  /** The first build's lock: the ceiling, null meaning none (anywhere). */
  setPrivacyLock(lock: PrivacyTier | null): void {
    this.setCeiling(lock ?? 'standard');
  }

  getPrivacyLock(): PrivacyTier | null {
    return this.ceiling === 'standard' ? null : this.ceiling;
  }

  /** Replaces the whole route (settings changed); each entry keeps its counters by id. */
  setRoute(route: readonly RouteEntry[]): void {
    this.entries = [...route];
    this.changed();
  }

  /** The route, in order. */
  route(): readonly RouteEntry[] {
    return this.entries;
  }

  /** Replaces the local entry (another model, other engine options). */
  setPrimary(primary: LlmDriver): void {
    this.setRoute([{ driver: primary, kind: 'local' }, ...this.entries.filter((e) => e.kind === 'remote')]);
  }

  /** Replaces the endpoints with one endpoint, or none. */
  setFallback(fallback: LlmDriver | null): void {
    this.setRoute([...this.entries.filter((e) => e.kind === 'local'), ...(fallback ? [{ driver: fallback, kind: 'remote' as const }] : [])]);
  }

  /** Adjusts the deadlines (0 disables one). */
  setTimeouts(timeouts: RouterTimeouts): void {
    for (const [key, value] of Object.entries(timeouts) as Array<[keyof RouterTimeouts, number | undefined]>) {
      if (value !== undefined) this.timeouts[key] = value;
    }
  }

  /** Adjusts every entry's circuit breaker. */
  setCircuitBreaker(options: CircuitBreakerOptions): void {
    this.breakerOptions = { ...this.breakerOptions, ...options };
    for (const stats of this.stats.values()) {
      if (options.threshold !== undefined) stats.breaker.threshold = options.threshold;
      if (options.cooldownMs !== undefined) stats.breaker.cooldownMs = options.cooldownMs;
    }
    this.changed();
  }

  setEgress(egress: EgressRecorder | null): void {
    this.egress = egress;
  }

  /** Calls `listener` whenever the metrics change; returns the unsubscribe function. */
  onMetricsChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ----------------------------------------------------------------------------------- what it reports

  /** The model of the entry the next request goes to first. */
  modelName(): string {
    return this.firstEntry()?.driver.modelName() ?? 'no model';
  }

  /** The window of the entry the next request goes to first (the local entry's when none may answer). */
  contextWindow(): number {
    return this.firstEntry()?.driver.contextWindow() ?? 0;
  }

  /**
   * The most permissive tier among the entries the strategy may use, capped by the ceiling: under Local
   * only it is the local engine's alone, whatever endpoints are configured.
   */
  privacyTier(): PrivacyTier {
    const tiers = strategyOrder(this.strategy, this.entries).map((entry) => entry.driver.privacyTier());
    return mostRestrictive(mostPermissive(tiers), this.ceiling);
  }

  /** Requests waiting in the local engine's queue. */
  queueLength(): number {
    return this.entries.filter((e) => e.kind === 'local').reduce((sum, e) => sum + (e.driver.queueLength?.() ?? 0), 0);
  }

  /** The entry a plain chat request would go to first now, or null when none may answer. */
  nextEntry(options: Pick<RouteOptions, 'strategy' | 'ceiling' | 'entryId'> = {}): RouteEntry | null {
    return this.plan(options, []).candidates[0] ?? null;
  }

  /** The plan a request with `needs` would follow. */
  plan(options: Pick<RouteOptions, 'strategy' | 'ceiling' | 'entryId'>, needs: CompletionRequest['needs'] = []): RoutePlan {
    const strategy = canonicalStrategy(options.strategy ?? this.strategy);
    const ceiling = options.ceiling ? mostRestrictive(this.ceiling, options.ceiling) : this.ceiling;
    return planRoute(this.entries, { strategy, ceiling, needs: needs ?? [], ...(options.entryId ? { entryId: options.entryId } : {}) });
  }

  /** A JSON-serialisable snapshot of counters, breakers, latency and recent events. */
  metrics(): RouterMetrics {
    const c = this.counters;
    const fallbackTries = c.fallbackSuccesses + c.fallbackFailures;
    const local = this.entries.find((e) => e.kind === 'local');
    const entries: EntryMetrics[] = this.entries.map((entry) => this.statsFor(entry).snapshot(entry));
    return {
      strategy: this.strategy,
      ceiling: this.ceiling,
      privacyTier: this.privacyTier(),
      primaryAttempts: c.primarySuccesses + c.primaryFailures,
      ...c,
      fallbackSuccessRate: fallbackTries === 0 ? 0 : c.fallbackSuccesses / fallbackTries,
      queueLength: this.queueLength(),
      circuitBreaker: local ? this.statsFor(local).breaker.snapshot() : closedCircuit(this.breakerOptions),
      latency: Object.fromEntries([...this.stats].filter(([, stats]) => stats.latency.observed()).map(([id, stats]) => [id, stats.latency.snapshot()])),
      entries,
      events: this.events.snapshot(),
    };
  }

  // -------------------------------------------------------------------------------------------- routing

  /** Routes one request with the router's strategy and ceiling. */
  complete(request: CompletionRequest): Promise<CompletionResponse> {
    return this.routeRequest(request, {});
  }

  /** Routes one request under another strategy (the first build's "Retry on cloud"). */
  completeWith(strategy: StrategyName, request: CompletionRequest): Promise<CompletionResponse> {
    return this.routeRequest(request, { strategy });
  }

  /** Routes one request with its own options (a conversation's pin, consent, the ledger's conversation id). */
  async routeRequest(request: CompletionRequest, options: RouteOptions): Promise<CompletionResponse> {
    const strategy = canonicalStrategy(options.strategy ?? this.strategy);
    const ceiling = options.ceiling ? mostRestrictive(this.ceiling, options.ceiling) : this.ceiling;
    const plan = this.plan({ ...options, strategy }, requestNeeds(request));
    const run: Run = { request, options, strategy, ceiling, plan, queue: [...plan.candidates], failures: [], needed: null, promptTokens: null, tooSmall: [], keptHere: false };
    if (run.queue.length === 0) throw this.nothingToTry(run);
    while (run.queue.length > 0) {
      const entry = run.queue.shift()!;
      if (!this.fits(run, entry)) {
        run.tooSmall.push(entry);
        continue;
      }
      const stats = this.statsFor(entry);
      // An open circuit only passes an entry by when there is somewhere else to go.
      const decision: CircuitDecision = run.queue.some((e) => this.fits(run, e)) ? stats.breaker.decide() : 'try';
      if (decision === 'skip') {
        const snapshot = stats.breaker.snapshot();
        const failure = new DriverError(
          'circuit_open',
          `${entryName(entry)} failed ${snapshot.consecutiveFailures} times in a row and is skipped until ${new Date(snapshot.retryAt ?? this.now()).toISOString()}`,
        );
        this.record(entry, 'skipped', `circuit_open: ${failure.message}`, 'circuit_open');
        run.failures.push({ entry, failure, skipped: true });
        continue;
      }
      const step = await this.attempt(run, entry, stats, decision);
      if (step.done) return step.response;
    }
    throw this.exhausted(run);
  }

  /** Routes an embeddings request to the first entry that can make them. */
  async embed(input: string[], options: RouteOptions & { signal?: AbortSignal; forward?: Record<string, unknown> } = {}): Promise<EmbeddingResponse> {
    const plan = this.plan(options, ['embeddings']);
    const request: CompletionRequest = { messages: [], ...(options.signal ? { signal: options.signal } : {}) };
    const ceiling = options.ceiling ? mostRestrictive(this.ceiling, options.ceiling) : this.ceiling;
    const run: Run = { request, options, strategy: canonicalStrategy(options.strategy ?? this.strategy), ceiling, plan, queue: [...plan.candidates], failures: [], needed: null, promptTokens: null, tooSmall: [], keptHere: false };
    if (run.queue.length === 0) throw this.nothingToTry(run, ['embeddings']);
    while (run.queue.length > 0) {
      const entry = run.queue.shift()!;
      const stats = this.statsFor(entry);
      // What the ledger records is what is sent: the client's own body when forwarded.
      const sent = options.forward ? { ...options.forward, model: entry.driver.modelName() } : { input };
      const admitted = await this.admit(run, entry, 'try', stats, utf8Length(JSON.stringify(sent)));
      if (admitted === 'kept') continue;
      stats.attempts++;
      try {
        const ms = entry.kind === 'local' ? this.timeouts.firstTokenTimeoutMs : this.timeouts.cloudTimeoutMs;
        const embedOptions = options.forward ? { forward: options.forward } : {};
        const response = await withDeadline((signal) => entry.driver.embed!(input, signal, embedOptions), ms, `${entryName(entry)} made no embeddings within`, options.signal);
        stats.successes++;
        admitted?.end({ outcome: 'success', promptTokens: response.usage.inputTokens, tokensReceived: 0 });
        this.record(entry, 'success', 'embeddings');
        return { ...response, entryKind: entry.kind, tier: entry.driver.privacyTier() };
      } catch (error) {
        const failure = DriverError.from(error);
        admitted?.end({ outcome: failure.kind === 'aborted' ? 'aborted' : 'failure', promptTokens: null, tokensReceived: null, errorKind: failure.kind });
        if (failure.kind === 'aborted') throw failure;
        stats.failed(failure.kind);
        run.failures.push({ entry, failure, skipped: false });
        if (!failure.spillable || run.queue.length === 0) {
          this.record(entry, 'failure', `${failure.kind}: ${failure.message}`, failure.kind);
          throw run.queue.length === 0 && failure.spillable ? this.exhausted(run) : failure;
        }
        stats.spilloversOut++;
        this.record(entry, 'spillover', `${failure.kind}: ${failure.message}`, failure.kind);
      }
    }
    throw this.exhausted(run);
  }

  // ---------------------------------------------------------------------------------------- one attempt

  private async attempt(run: Run, entry: RouteEntry, stats: EntryStats, decision: CircuitDecision): Promise<Step> {
    const { request } = run;
    const driver = entry.driver;
    const bytes = driver.requestBytes?.(request) ?? utf8Length(JSON.stringify(request.messages));
    let egress: EgressHandle | null;
    try {
      const admitted = await this.admit(run, entry, decision, stats, bytes);
      if (admitted === 'kept') return { done: false };
      egress = admitted;
    } catch (error) {
      if (decision === 'probe') stats.breaker.release();
      throw error;
    }

    request.onRoute?.({ entryId: driver.id, entryKind: entry.kind, model: driver.modelName(), tier: driver.privacyTier() });
    stats.attempts++;
    const stream = new StreamTap(request);
    let failure: DriverError;
    try {
      const response = await runAttempt(driver, { ...request, onText: stream.onText }, {
        deadlines: this.deadlinesFor(entry),
        name: entryName(entry),
        // A raw prompt (legacy completion) has no chat template to count with: the driver checks its fit itself.
        ...(driver.countTokens && !request.prompt ? { preflight: (signal: AbortSignal) => this.preflight(run, entry, signal) } : {}),
      });
      return { done: true, response: this.answered(run, entry, stats, decision, response, egress) };
    } catch (error) {
      failure = DriverError.from(error);
    }
    const ended = (outcome: 'failure' | 'aborted' | 'incomplete'): void =>
      egress?.end({ outcome, promptTokens: run.promptTokens, tokensReceived: outcome === 'incomplete' ? stream.pieces : null, errorKind: failure.kind });

    // A driver that fails after the user cancelled is still a cancel: a cancelled request never moves on.
    if (failure.kind === 'aborted' || request.signal?.aborted) {
      if (decision === 'probe') stats.breaker.release();
      stats.cancelled++;
      this.counters.cancelled++;
      this.record(entry, 'aborted', 'cancelled by the user');
      ended('aborted');
      // A driver that did not stop in time still leaves what it streamed: the person keeps it.
      if (stream.pieces > 0) return { done: true, response: { ...this.partial(entry, stream), stopReason: 'aborted' } };
      throw failure.kind === 'aborted' ? failure : new DriverError('aborted', 'The request was cancelled.', { cause: failure });
    }
    // A pre-flight overflow counts as a failure too: the entry was chosen and could not answer.
    stats.failed(failure.kind);
    if (entry.kind === 'local') this.counters.primaryFailures++;
    else this.counters.fallbackFailures++;
    if (HEALTH_FAILURES.has(failure.kind)) stats.breaker.failure();
    else if (decision === 'probe') stats.breaker.release();
    const reason = `${failure.kind}: ${failure.message}`;

    if (stream.pieces > 0) {
      ended('incomplete');
      return { done: true, response: this.incomplete(entry, stats, stream, failure, reason) };
    }
    ended('failure');
    if (!failure.spillable) {
      this.record(entry, 'failure', reason, failure.kind);
      throw this.withContext(failure, run);
    }
    run.failures.push({ entry, failure, skipped: false });
    if (run.queue.some((e) => this.fits(run, e))) {
      stats.spilloversOut++;
      this.counters.spillovers++;
      this.record(entry, 'spillover', reason, failure.kind);
      return { done: false };
    }
    if (this.blockedEntries(run).length > 0) this.record(entry, 'blocked', reason, 'privacy_blocked');
    else this.record(entry, 'failure', reason, failure.kind);
    throw this.exhausted(run);
  }

  /**
   * Clears an entry off this machine for sending: asks the person first when the request carries a consent
   * hook, then records it in the egress ledger before a byte is sent. 'kept' when the person keeps the
   * request here (the rest of the route is then limited to this machine); null for a local entry.
   */
  private async admit(run: Run, entry: RouteEntry, decision: CircuitDecision, stats: EntryStats, bytesSent: number): Promise<EgressHandle | null | 'kept'> {
    const driver = entry.driver;
    const tier = driver.privacyTier();
    if (tier === 'sovereign') return null;
    const why = this.whyFor(run, entry);
    const lastFailure = run.failures.at(-1);
    if (run.options.consent) {
      const choice = await this.countCancel(run, entry, raceSignal(
        run.options.consent(
          { entryId: driver.id, name: entryName(entry), host: driver.endpointHost?.() ?? '', model: driver.modelName(), tier, why, ...(lastFailure ? { after: lastFailure.failure.toData() } : {}) },
          run.request.signal,
        ),
        run.request.signal,
        () => new DriverError('aborted', 'The request was cancelled.'),
      ));
      if (choice === 'keep') {
        if (decision === 'probe') stats.breaker.release();
        run.keptHere = true;
        run.queue = run.queue.filter((e) => e.driver.privacyTier() === 'sovereign');
        this.record(entry, 'blocked', 'kept on this computer by the person', 'privacy_blocked');
        return 'kept';
      }
    }
    if (!this.egress) return null;
    return this.egress.begin({
      entryId: driver.id,
      entryName: entryName(entry),
      host: driver.endpointHost?.() ?? '',
      model: driver.modelName(),
      tier,
      why,
      ...(lastFailure && !lastFailure.skipped && why === 'spillover' ? { after: lastFailure.failure.kind } : {}),
      bytesSent,
      promptTokens: run.promptTokens,
      ...(run.options.conversationId ? { conversationId: run.options.conversationId } : {}),
    });
  }

  /** A cancel while waiting for the person (or for anything before an attempt) counts as a cancel. */
  private async countCancel<T>(run: Run, entry: RouteEntry, waiting: Promise<T>): Promise<T> {
    try {
      return await waiting;
    } catch (error) {
      if (error instanceof DriverError && error.kind === 'aborted') {
        this.counters.cancelled++;
        this.record(entry, 'aborted', 'cancelled while asking before sending');
      }
      throw error;
    }
  }

  /**
   * Counts the prompt with the entry's own tokenizer before generating. node-llama-cpp would shift the
   * context and silently drop the start of the conversation, possibly the latest message; the request moves
   * on to an entry whose window fits, or is refused.
   */
  private async preflight(run: Run, entry: RouteEntry, signal: AbortSignal): Promise<void> {
    const promptTokens = await entry.driver.countTokens!(run.request.messages, signal);
    const needed = promptTokens + (run.request.maxTokens ?? 1);
    run.promptTokens = promptTokens;
    run.needed = needed;
    const window = entry.driver.contextWindow();
    if (window <= 0 || needed <= window) return;
    const answer = run.request.maxTokens ? ` plus ${run.request.maxTokens} for the answer` : '';
    throw new DriverError('context_overflow', `The conversation needs ${promptTokens} tokens${answer}, more than ${possessive(entryName(entry))} context of ${window} tokens.`);
  }

  private answered(run: Run, entry: RouteEntry, stats: EntryStats, decision: CircuitDecision, response: CompletionResponse, egress: EgressHandle | null): CompletionResponse {
    const lastFailure = run.failures.filter((f) => !f.skipped).at(-1);
    const reason = this.reasonFor(run, entry, decision);
    if (response.stopReason === 'aborted') {
      // Drivers resolve a cancel with the partial text; it says nothing about the entry's health.
      stats.breaker.release();
      stats.cancelled++;
      this.counters.cancelled++;
      this.record(entry, 'aborted', 'cancelled by the user', undefined, response.timings.totalMs);
      egress?.end({ outcome: 'aborted', promptTokens: response.usage.inputTokens || run.promptTokens, tokensReceived: response.usage.outputTokens });
    } else if (response.stopReason === 'switched') {
      // The model was switched mid-answer: not the person's cancel, and nothing about the entry's health.
      stats.breaker.release();
      this.record(entry, 'switched', 'the model was switched mid-answer', undefined, response.timings.totalMs);
      egress?.end({ outcome: 'incomplete', promptTokens: response.usage.inputTokens || run.promptTokens, tokensReceived: response.usage.outputTokens });
    } else {
      stats.breaker.success();
      stats.successes++;
      stats.observe(response);
      if (entry.kind === 'local') this.counters.primarySuccesses++;
      else this.counters.fallbackSuccesses++;
      const tps = tokensPerSecond({ ...response.timings, outputTokens: response.usage.outputTokens });
      this.record(entry, 'success', reason, undefined, response.timings.totalMs, tps);
      egress?.end({ outcome: 'success', promptTokens: response.usage.inputTokens || run.promptTokens, tokensReceived: response.usage.outputTokens });
    }
    return {
      ...response,
      entryKind: entry.kind,
      tier: entry.driver.privacyTier(),
      routeReason: reason,
      ...(lastFailure ? { spilledAfter: { ...lastFailure.failure.toData(), entryId: lastFailure.entry.driver.id } } : {}),
    };
  }

  /** A failure after text has streamed: the answer ends here, marked incomplete; it never continues elsewhere. */
  private incomplete(entry: RouteEntry, stats: EntryStats, stream: StreamTap, failure: DriverError, reason: string): CompletionResponse {
    stats.incomplete++;
    this.counters.incompleteAnswers++;
    this.record(entry, 'incomplete', reason, failure.kind);
    return { ...this.partial(entry, stream), stopReason: 'error', routeReason: `stopped mid-answer after ${reason}`, incomplete: failure.toData() };
  }

  /** What an entry streamed before it stopped, as a response. */
  private partial(entry: RouteEntry, stream: StreamTap): CompletionResponse {
    return {
      text: stream.text,
      entryId: entry.driver.id,
      entryKind: entry.kind,
      tier: entry.driver.privacyTier(),
      model: entry.driver.modelName(),
      usage: { inputTokens: 0, outputTokens: stream.pieces },
      timings: stream.timings(),
      stopReason: 'aborted',
    };
  }

  // ------------------------------------------------------------------------------------- why and why not

  private whyFor(run: Run, entry: RouteEntry): EgressWhy {
    if (run.options.reason === 'retry') return 'retry';
    if (run.options.entryId !== undefined) return 'pinned';
    const last = run.failures.at(-1);
    if (last) return last.skipped ? 'circuit-open' : 'spillover';
    if (run.plan.lacking.length > 0 && run.plan.order.indexOf(entry) > run.plan.order.indexOf(run.plan.lacking[0]!.entry)) return 'capability';
    if (run.strategy === 'cloud-first') return 'cloud-first';
    if (run.strategy === 'cloud-only') return 'cloud-only';
    return 'spillover';
  }

  private reasonFor(run: Run, entry: RouteEntry, decision: CircuitDecision): string {
    if (decision === 'probe') return `${entryName(entry)} probed after the circuit cooldown`;
    const last = run.failures.at(-1);
    if (last) return last.skipped ? `circuit_open: ${last.failure.message}` : `spilled over after ${last.failure.kind}: ${last.failure.message}`;
    if (run.keptHere) return 'kept on this computer';
    if (run.options.entryId !== undefined) return `pinned to ${entryName(entry)}`;
    const passed = run.plan.lacking.filter((l) => run.plan.order.indexOf(l.entry) < run.plan.order.indexOf(entry));
    if (passed.length > 0) return passed.map((l) => `${entryName(l.entry)} cannot ${l.missing.map(describeCapability).join(' or ')}`).join('; ');
    return STRATEGY_WORDS[run.strategy];
  }

  /** Nothing to try at all: say which part of the configuration keeps the request from every entry. */
  private nothingToTry(run: Run, needs = requestNeeds(run.request)): DriverError {
    const { plan } = run;
    if (plan.order.length === 0) {
      if (run.options.entryId !== undefined) return new DriverError('model_not_found', `"${run.options.entryId}" is not an entry of the route any more. Choose another in the model picker.`);
      if (run.strategy === 'cloud-only') return new DriverError('no_fallback', 'Cloud only is selected but no cloud endpoint is configured. Add one in Settings, or switch to Local.');
      return new DriverError('model_not_found', 'No local model is set up yet. Choose a GGUF model in Settings, or use Cloud only.');
    }
    if (plan.lacking.length > 0) {
      const need = needs.filter((n) => plan.lacking.some((l) => l.missing.includes(n)));
      const cannot = plan.lacking.map((l) => `${entryName(l.entry)} cannot ${l.missing.map(describeCapability).join(' or ')}`).join('; ');
      const above = plan.aboveCeiling.length > 0 ? ` ${names(plan.aboveCeiling)} ${plan.aboveCeiling.length === 1 ? 'is' : 'are'} beyond the privacy ceiling (${describeCeiling(run.ceiling)}).` : '';
      return new DriverError('unsupported', `This request needs an entry that can ${need.map(describeCapability).join(' and ')}, and ${STRATEGY_WORDS[run.strategy]} allows none: ${cannot}.${above}`);
    }
    this.counters.privacyBlocks++;
    for (const entry of plan.aboveCeiling) this.record(entry, 'blocked', `privacy ceiling (${run.ceiling}) forbids a ${entry.driver.privacyTier()} entry`, 'privacy_blocked');
    const what = plan.aboveCeiling.map((e) => `${entryName(e)}${e.driver.endpointHost?.() ? ` (${e.driver.endpointHost!()})` : ''} is ${e.driver.privacyTier()}`).join('; ');
    return new DriverError('privacy_blocked', `The privacy ceiling allows ${describeCeiling(run.ceiling)}, and ${what}: nothing was sent.`);
  }

  /** Entries the strategy would have moved on to that the ceiling forbids. */
  private blockedEntries(run: Run): RouteEntry[] {
    return run.plan.aboveCeiling;
  }

  /** Every candidate failed or was passed by: the error says why, with the failures that led here. */
  private exhausted(run: Run): DriverError {
    const last = run.failures.at(-1);
    const prior = last ? `${entryName(last.entry)} could not answer (${last.failure.message})` : 'No entry could answer';
    if (run.keptHere) {
      this.counters.privacyBlocks++;
      return new DriverError('privacy_blocked', `${prior}, and you chose to keep this conversation on this computer: nothing was sent.`, { cause: last?.failure });
    }
    const blocked = this.blockedEntries(run);
    if (blocked.length > 0) {
      this.counters.privacyBlocks++;
      return new DriverError(
        'privacy_blocked',
        `${prior} and the privacy ceiling (${describeCeiling(run.ceiling)}) keeps this conversation from ${names(blocked)}, so it was not sent there.`,
        { cause: last?.failure },
      );
    }
    const tooSmall = [...run.tooSmall, ...run.queue.filter((e) => !this.fits(run, e))];
    if (tooSmall.length > 0 && last?.failure.kind === 'context_overflow') {
      const windows = tooSmall.map((e) => `${possessive(entryName(e))} ${e.driver.contextWindow()} tokens`).join(', ');
      return new DriverError('context_overflow', `${last.failure.message} ${capitalise(windows)} are not enough either.`);
    }
    if (!last) return new DriverError('model_not_found', 'No entry of the route could take this request.');
    return this.withContext(last.failure, { ...run, failures: run.failures.slice(0, -1) });
  }

  /** An entry's failure, mentioning why the request reached it when an entry before had failed. */
  private withContext(failure: DriverError, run: Pick<Run, 'failures'>): DriverError {
    const before = run.failures.filter((f) => !f.skipped && f.failure !== failure).at(-1);
    if (!before) return failure;
    return new DriverError(failure.kind, `${failure.message} (asked because ${entryName(before.entry)} failed: ${before.failure.message})`, {
      cause: failure,
      ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
    });
  }

  // -------------------------------------------------------------------------------------------- helpers

  private fits(run: Run, entry: RouteEntry): boolean {
    const window = entry.driver.contextWindow();
    return run.needed === null || window <= 0 || entry.driver.countTokens !== undefined || window >= run.needed;
  }

  private deadlinesFor(entry: RouteEntry): Deadlines {
    const t = this.timeouts;
    if (entry.kind === 'remote') return { loadMs: t.cloudTimeoutMs, firstTokenMs: t.cloudTimeoutMs, idleMs: t.cloudTimeoutMs };
    return { loadMs: t.loadTimeoutMs, firstTokenMs: t.firstTokenTimeoutMs, idleMs: t.idleTimeoutMs };
  }

  /** The entry the next plain request goes to (under the strategy and the ceiling), else the local one. */
  private firstEntry(): RouteEntry | undefined {
    return this.nextEntry() ?? this.entries.find((e) => e.kind === 'local');
  }

  private statsFor(entry: RouteEntry): EntryStats {
    let stats = this.stats.get(entry.driver.id);
    if (!stats) this.stats.set(entry.driver.id, (stats = new EntryStats(this.breakerOptions, this.now)));
    return stats;
  }

  private record(entry: RouteEntry, outcome: RoutingOutcome, reason?: string, kind?: DriverErrorKind, latencyMs?: number, tps?: number | null): void {
    const event: RoutingEvent = {
      at: this.now(),
      entryId: entry.driver.id,
      entryKind: entry.kind,
      outcome,
      ...(kind ? { kind } : {}),
      ...(reason ? { reason } : {}),
      ...(latencyMs === undefined ? {} : { latencyMs: Math.round(latencyMs * 100) / 100 }),
      ...(tps === undefined || tps === null ? {} : { tokensPerSecond: Math.round(tps * 10) / 10 }),
    };
    this.events.push(event);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * Forwards streamed text to the caller while remembering it, for answers cut short mid-stream. A piece may
 * be empty (a forwarded chunk that carries no text, e.g. a tool call): it still means the caller has
 * received part of the answer, so the request can no longer move to another entry.
 */
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

function closedCircuit(options: CircuitBreakerOptions): CircuitSnapshot {
  return { state: 'closed', consecutiveFailures: 0, threshold: options.threshold ?? 3, cooldownMs: options.cooldownMs ?? 30_000, retryAt: null, skipped: 0 };
}

function names(entries: readonly RouteEntry[]): string {
  return entries.map(entryName).join(', ');
}

function possessive(name: string): string {
  const lower = name.charAt(0).toLowerCase() + name.slice(1);
  const base = name.startsWith('The ') ? lower : name;
  return base.endsWith('s') ? `${base}'` : `${base}'s`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
