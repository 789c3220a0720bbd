import type { AppError, ErrorCode, Result } from '../contract/index.js';
import { DriverError } from '../core/errors.js';

/** Codes after which trying the same call again may help. */
const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['BUSY', 'UNAVAILABLE']);

/** A service failure with a contract code; it converts itself to the contract's error data. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }

  toAppError(): AppError {
    return {
      code: this.code,
      message: this.message,
      retryable: RETRYABLE_CODES.has(this.code),
      ...(this.field ? { field: this.field } : {}),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    };
  }
}

/** Plain error data for anything thrown inside a service; unexpected errors become INTERNAL. */
export function toAppError(error: unknown): AppError {
  if (error instanceof ServiceError || error instanceof DriverError) return error.toAppError();
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `Something went wrong inside Spillway: ${message}`, retryable: false };
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(error: unknown): Result<T> {
  return { ok: false, error: toAppError(error) };
}
