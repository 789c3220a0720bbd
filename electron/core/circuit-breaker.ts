/**
 * Stops sending requests to a primary that keeps failing: after `threshold` consecutive failures the
 * primary is skipped for `cooldownMs`, then one probe request decides whether it is healthy again.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (default 3). */
  threshold?: number;
  /** How long the primary is skipped once open (default 30 s). */
  cooldownMs?: number;
}

export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  threshold: number;
  cooldownMs: number;
  /** Epoch ms when an open circuit lets a probe through; null unless open. */
  retryAt: number | null;
  /** Requests sent straight to the fallback because the circuit was open. */
  skipped: number;
}

/** What the router should do with the primary for the next request. */
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
