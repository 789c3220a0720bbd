/**
 * Stops sending requests to an entry that keeps failing: after `threshold` consecutive failures the entry
 * is skipped for `cooldownMs`, then one probe request decides whether it is healthy again.
 */
import type { CircuitSnapshot, CircuitState } from '../contract/index.js';

export type { CircuitSnapshot, CircuitState };

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (default 3). */
  threshold?: number;
  /** How long the entry is skipped once open (default 30 s). */
  cooldownMs?: number;
}

/** What the router should do with the entry for the next request. */
export type CircuitDecision = 'try' | 'probe' | 'skip';

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private skipped = 0;
  threshold: number;
  cooldownMs: number;

  constructor(options: CircuitBreakerOptions = {}, private readonly now: () => number = Date.now) {
    this.threshold = options.threshold ?? 3;
    this.cooldownMs = options.cooldownMs ?? 30_000;
  }

  /** Decides for one request; a 'probe' must be followed by success(), failure() or release(). */
  decide(): CircuitDecision {
    if (this.state === 'open' && this.now() - this.openedAt >= this.cooldownMs) this.state = 'half-open';
    if (this.state === 'closed') return 'try';
    if (this.state === 'half-open' && !this.probeInFlight) {
      this.probeInFlight = true;
      return 'probe';
    }
    this.skipped++;
    return 'skip';
  }

  success(): void {
    this.state = 'closed';
    this.failures = 0;
    this.probeInFlight = false;
  }

  failure(): void {
    this.failures++;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.state = 'open';
      this.openedAt = this.now();
    }
    this.probeInFlight = false;
  }

  /** A probe that ended without a verdict (the user cancelled it): let the next request probe. */
  release(): void {
    this.probeInFlight = false;
  }

  snapshot(): CircuitSnapshot {
    if (this.state === 'open' && this.now() - this.openedAt >= this.cooldownMs) this.state = 'half-open';
    return {
      state: this.state,
      consecutiveFailures: this.failures,
      threshold: this.threshold,
      cooldownMs: this.cooldownMs,
      retryAt: this.state === 'open' ? this.openedAt + this.cooldownMs : null,
      skipped: this.skipped,
    };
  }
}
