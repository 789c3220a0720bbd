/** Errors as plain data, the one error model every caller sees. */

/** Every way an entry of the route can fail; each is also an ErrorCode, upper-cased. */
export type DriverErrorKind =
  | 'inference_failed'
  | 'model_not_found'
  | 'network'
  | 'timeout'
  | 'context_overflow'
  | 'rate_limited'
  | 'auth'
  | 'invalid_request'
  | 'aborted'
  | 'no_fallback'
  | 'privacy_blocked'
  | 'circuit_open'
  /** No entry the request may use has what it needs (images, tools, embeddings). */
  | 'unsupported';

/** Error codes the renderer branches on (never on message text). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'BUSY'
  | 'UNAVAILABLE'
  | 'FORBIDDEN'
  | 'INTERNAL'
  | Uppercase<DriverErrorKind>;

/** Maps a driver failure kind to its contract code. */
export function codeForKind(kind: DriverErrorKind): ErrorCode {
  return kind.toUpperCase() as Uppercase<DriverErrorKind>;
}

/** An error as plain data: class prototypes do not survive the context bridge or JSON. */
export interface AppError {
  code: ErrorCode;
  message: string;
  /** Trying the same thing again may help (a busy engine, a network blip); false when only a change will. */
  retryable: boolean;
  /** For INVALID_ARGUMENT: the offending field's path, e.g. `endpoint.baseURL`. */
  field?: string;
  /** For BUSY and RATE_LIMITED: how long to wait before trying again. */
  retryAfterMs?: number;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: AppError };
