/** The HTTP status each contract error code answers with, on /api and on /v1 alike. */
import type { AppError, ErrorCode } from '../contract/index.js';

/** A Record, so a new code cannot be forgotten. */
const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  INVALID_REQUEST: 400,
  CONTEXT_OVERFLOW: 400,
  // Like OpenAI for an image sent to a model that reads none.
  UNSUPPORTED: 400,
  AUTH: 401,
  FORBIDDEN: 403,
  PRIVACY_BLOCKED: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  BUSY: 429,
  RATE_LIMITED: 429,
  // The client went away; nobody reads this, but logs should not call it a server error.
  ABORTED: 499,
  INTERNAL: 500,
  INFERENCE_FAILED: 502,
  NETWORK: 502,
  UNAVAILABLE: 503,
  NO_FALLBACK: 503,
  CIRCUIT_OPEN: 503,
  TIMEOUT: 504,
};

/** When a busy or rate-limited answer says nothing of when to come back. */
const DEFAULT_RETRY_AFTER_S = 1;

export function statusFor(code: ErrorCode): number {
  return STATUS[code];
}

/** The headers an error answer carries: Retry-After (whole seconds) for the codes that mean "come back later". */
export function errorHeaders(error: AppError): Record<string, string> {
  const comeBack = error.code === 'BUSY' || error.code === 'RATE_LIMITED' || error.code === 'CIRCUIT_OPEN' || error.retryAfterMs !== undefined;
  if (!comeBack) return {};
  const seconds = error.retryAfterMs === undefined ? DEFAULT_RETRY_AFTER_S : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
  return { 'retry-after': String(seconds) };
}
