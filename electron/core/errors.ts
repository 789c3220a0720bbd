import { codeForKind, type AppError } from '../contract/index.js';
import type { DriverErrorData, DriverErrorKind } from './types.js';

/**
 * Kinds after which the router may try the next entry of the route ("may spill over"). A user's cancel, a
 * bad request or a refused key never spills over: another entry would fail the same way, or should not be asked.
 */
export const SPILLABLE_KINDS: ReadonlySet<DriverErrorKind> = new Set<DriverErrorKind>([
  'inference_failed',
  'model_not_found',
  'network',
  'timeout',
  'rate_limited',
  'context_overflow',
]);

/** Kinds after which trying the same request again may help (the meaning of `retryable` everywhere). */
export const RETRYABLE_KINDS: ReadonlySet<DriverErrorKind> = new Set<DriverErrorKind>([
  'inference_failed',
  'network',
  'timeout',
  'rate_limited',
  'circuit_open',
]);

export function isSpillableKind(kind: DriverErrorKind): boolean {
  return SPILLABLE_KINDS.has(kind);
}

export interface DriverErrorOptions {
  cause?: unknown;
  retryAfterMs?: number;
}

/** A driver failure with a machine-readable kind and a message a user can act on. */
export class DriverError extends Error {
  readonly kind: DriverErrorKind;
  readonly retryAfterMs?: number;

  constructor(kind: DriverErrorKind, message: string, options: DriverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DriverError';
    this.kind = kind;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** Trying again may help. */
  get retryable(): boolean {
    return RETRYABLE_KINDS.has(this.kind);
  }

  /** The router may try the next entry of the route. */
  get spillable(): boolean {
    return SPILLABLE_KINDS.has(this.kind);
  }

  /** Plain data for crossing a process or context boundary (class prototypes do not survive it). */
  toData(): DriverErrorData {
    const data: DriverErrorData = { kind: this.kind, message: this.message, retryable: this.retryable };
    if (this.retryAfterMs !== undefined) data.retryAfterMs = this.retryAfterMs;
    return data;
  }

  /** The contract's error data. */
  toAppError(): AppError {
    return {
      code: codeForKind(this.kind),
      message: this.message,
      retryable: this.retryable,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    };
  }

  static fromData(data: DriverErrorData): DriverError {
    return new DriverError(data.kind, data.message, data.retryAfterMs === undefined ? {} : { retryAfterMs: data.retryAfterMs });
  }

  /** Wraps anything thrown by a driver; unknown failures become `inference_failed`. */
  static from(error: unknown): DriverError {
    if (error instanceof DriverError) return error;
    if (isAbortError(error)) return new DriverError('aborted', 'The request was cancelled.', { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    return new DriverError('inference_failed', message || 'The model failed without saying why.', { cause: error });
  }
}

/** An AbortSignal's abort, whichever library raised it (DOM, Node, undici). */
export function isAbortError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return error.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED';
}
