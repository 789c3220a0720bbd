/** What the router knows about one entry across requests: its counters, its circuit breaker, its latency. */
import type { EntryMetrics } from '../contract/index.js';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import { LatencyTracker } from './metrics.js';
import { entryName, type RouteEntry } from './route.js';
import type { CompletionResponse, DriverErrorKind } from './types.js';

export class EntryStats {
  attempts = 0;
  successes = 0;
  failures = 0;
  spilloversOut = 0;
  cancelled = 0;
  incomplete = 0;
  readonly failuresByKind: Partial<Record<DriverErrorKind, number>> = {};
  readonly breaker: CircuitBreaker;
  readonly latency = new LatencyTracker();

  constructor(breaker: CircuitBreakerOptions, now: () => number) {
    this.breaker = new CircuitBreaker(breaker, now);
  }

  failed(kind: DriverErrorKind): void {
    this.failures++;
    this.failuresByKind[kind] = (this.failuresByKind[kind] ?? 0) + 1;
  }

  observe(response: CompletionResponse): void {
    this.latency.add({ timeToFirstTokenMs: response.timings.timeToFirstTokenMs, totalMs: response.timings.totalMs, outputTokens: response.usage.outputTokens });
  }

  snapshot(entry: RouteEntry): EntryMetrics {
    return {
      id: entry.driver.id,
      kind: entry.kind,
      name: entryName(entry),
      model: entry.driver.modelName(),
      tier: entry.driver.privacyTier(),
      attempts: this.attempts,
      successes: this.successes,
      failures: this.failures,
      failuresByKind: { ...this.failuresByKind },
      spilloversOut: this.spilloversOut,
      cancelled: this.cancelled,
      incomplete: this.incomplete,
      circuit: this.breaker.snapshot(),
      latency: this.latency.snapshot(),
    };
  }
}
