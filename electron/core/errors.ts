import type { DriverErrorData, DriverErrorKind } from './types.js';

/** Kinds after which the router may try another driver; a user's cancel or a bad request never spills over. */
export const RETRYABLE_KINDS: ReadonlySet<DriverErrorKind> = new Set<DriverErrorKind>([
  'inference_failed',
  'model_not_found',
  'network',
  'timeout',
  'rate_limited',
  'context_overflow',
]);

export function isRetryableKind(kind: DriverErrorKind): boolean {
  return RETRYABLE_KINDS.has(kind);
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

  get retryable(): boolean {
    return isRetryableKind(this.kind);
  }

  /** Plain data for crossing a process or context boundary (class prototypes do not survive it). */
  toData(): DriverErrorData {
    const data: DriverErrorData = { kind: this.kind, message: this.message, retryable: this.retryable };
    if (this.retryAfterMs !== undefined) data.retryAfterMs = this.retryAfterMs;
    return data;
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

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR');
}
