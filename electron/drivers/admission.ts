/**
 * The local engine's one limit and one queue: at most `limit` requests generate at once (one per sequence
 * of the context), up to `maxQueue` more wait in arrival order, and the rest are refused at once with
 * `rate_limited` and a Retry-After estimate. This is the only place concurrency toward the local model is
 * decided; the services above it do not cap answers themselves.
 */
import { DriverError } from '../core/errors.js';

/** Until a request has finished, the estimate assumes this long an answer. */
const ASSUMED_ANSWER_MS = 5_000;
const MIN_RETRY_AFTER_MS = 1_000;
const MAX_RETRY_AFTER_MS = 60_000;

interface Waiter {
  start(): void;
  fail(error: DriverError | null): void;
}

export class Admission {
  private limit = 1;
  private active = 0;
  private readonly waiting: Waiter[] = [];
  /** Moving average of how long an admitted request holds its place. */
  private averageMs: number | null = null;

  constructor(private readonly maxQueue: number) {}

  /** Requests generating now. */
  running(): number {
    return this.active;
  }

  /** Requests waiting for a place. */
  queued(): number {
    return this.waiting.length;
  }

  /** Sets how many may run at once (the engine's sequences) and starts waiters that now fit. */
  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    this.pump();
  }

  /**
   * Waits for a place. Resolves true once admitted, false when `signal` aborted first; rejects with
   * `rate_limited` (and retryAfterMs) when the queue is full, or with the error `failWaiting` gives.
   */
  enter(signal?: AbortSignal): Promise<boolean> {
    if (this.active < this.limit && this.waiting.length === 0) {
      this.active++;
      return Promise.resolve(true);
    }
    if (this.waiting.length >= this.maxQueue) {
      const retryAfterMs = this.retryAfterMs();
      throw new DriverError(
        'rate_limited',
        `The local model is busy: ${this.active} answer${this.active === 1 ? ' is' : 's are'} being written and ${this.waiting.length} waiting; try again in ${Math.ceil(retryAfterMs / 1000)} s.`,
        { retryAfterMs },
      );
    }
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiting.indexOf(waiter);
        if (at !== -1) this.waiting.splice(at, 1);
        resolve(false);
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(false);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Gives an admitted request's place back after it held it for `heldMs`. */
  leave(heldMs: number): void {
    this.averageMs = this.averageMs === null ? heldMs : this.averageMs * 0.8 + heldMs * 0.2;
    this.active--;
    this.pump();
  }

  /** Ends every waiter: with `error`, or as not admitted when null. */
  failWaiting(error: DriverError | null): void {
    for (const waiter of this.waiting.splice(0)) waiter.fail(error);
  }

  /**
   * When trying again is likely to find room in the queue: the places ahead drain at `limit` answers per
   * average answer, and a place frees once one of them has.
   */
  retryAfterMs(): number {
    const perAnswer = this.averageMs ?? ASSUMED_ANSWER_MS;
    const estimate = (perAnswer * Math.max(1, this.waiting.length - this.maxQueue + 1)) / this.limit;
    return Math.round(Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, estimate)));
  }

  private pump(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!.start();
    }
  }
}
