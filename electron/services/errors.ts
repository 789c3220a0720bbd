import { codeForKind, type AppError, type ErrorCode, type Result } from '../contract/index.js';
import { DriverError } from '../core/errors.js';

/** A service failure with a contract code; adapters turn it into AppError data. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['BUSY', 'UNAVAILABLE']);

/** Plain error data for anything thrown inside a service; unexpected errors become INTERNAL. */
export function toAppError(error: unknown): AppError {
  if (error instanceof ServiceError) {
    return { code: error.code, message: error.message, retryable: RETRYABLE_CODES.has(error.code), ...(error.field ? { field: error.field } : {}) };
  }
  if (error instanceof DriverError) return { code: codeForKind(error.kind), message: error.message, retryable: error.retryable };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `Something went wrong inside Spillway: ${message}`, retryable: false };
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(error: unknown): Result<T> {
  return { ok: false, error: toAppError(error) };
}
