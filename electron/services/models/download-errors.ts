/**
 * Download failures: one `reason` per thing a user can act on, mapped onto the contract's error codes so
 * `toAppError` carries them across IPC/HTTP unchanged. `transient` failures are retried automatically.
 */
import type { AppError, ErrorCode } from '../../contract/index.js';
import { isAbortError } from '../../core/errors.js';
import { CONNECTION_FAILURES, errnoCode, parseRetryAfterMs, TIMEOUT_FAILURES } from '../../core/net.js';
import { ServiceError } from '../errors.js';

export type DownloadFailure =
  | 'invalid_source'
  | 'not_found'
  | 'auth'
  | 'rate_limited'
  | 'network'
  | 'timeout'
  | 'server'
  | 'corrupt'
  | 'not_gguf'
  | 'no_space'
  | 'disk_full'
  | 'io'
  | 'aborted';

const CODES: Record<DownloadFailure, ErrorCode> = {
  invalid_source: 'INVALID_ARGUMENT',
  not_found: 'NOT_FOUND',
  auth: 'AUTH',
  rate_limited: 'RATE_LIMITED',
  network: 'NETWORK',
  timeout: 'TIMEOUT',
  server: 'UNAVAILABLE',
  // A changed or damaged file usually downloads fine the second time, like a network failure.
  corrupt: 'NETWORK',
  not_gguf: 'INVALID_ARGUMENT',
  no_space: 'UNAVAILABLE',
  disk_full: 'UNAVAILABLE',
  io: 'INTERNAL',
  aborted: 'ABORTED',
};

/** A download failure as plain data (for events and status snapshots). */
export interface DownloadErrorData {
  code: ErrorCode;
  reason: DownloadFailure;
  message: string;
  retryable: boolean;
}

export interface DownloadErrorOptions {
  transient?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/** A download failure with a contract code, a finer `reason`, and whether retrying may help. */
export class DownloadError extends ServiceError {
  readonly transient: boolean;

  constructor(
    readonly reason: DownloadFailure,
    message: string,
    options: DownloadErrorOptions = {},
  ) {
    super(CODES[reason], message, undefined, options.retryAfterMs);
    this.name = 'DownloadError';
    this.transient = options.transient ?? false;
    if (options.cause !== undefined) this.cause = options.cause;
  }

  /** Trying the download again may help. */
  get retryable(): boolean {
    return this.transient || ['corrupt', 'no_space', 'disk_full', 'network', 'timeout', 'server', 'rate_limited'].includes(this.reason);
  }

  toData(): DownloadErrorData {
    return { code: this.code, reason: this.reason, message: this.message, retryable: this.retryable };
  }

  override toAppError(): AppError {
    return { ...super.toAppError(), retryable: this.retryable };
  }
}

/** Turns anything thrown while downloading into a DownloadError (network and timeouts are transient). */
export function toDownloadError(error: unknown, what: string): DownloadError {
  if (error instanceof DownloadError) return error;
  const code = errnoCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (isAbortError(error)) return new DownloadError('aborted', `The download of ${what} was stopped.`, { cause: error });
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DownloadError('disk_full', `The disk filled up while downloading ${what}; the partial download was removed. Free some space and try again.`, { cause: error });
  }
  if (TIMEOUT_FAILURES.has(code)) return new DownloadError('timeout', `The server stopped answering while downloading ${what} (${detail}).`, { transient: true, cause: error });
  if (code in CONNECTION_FAILURES) return new DownloadError('network', `The connection failed while downloading ${what} (${detail}).`, { transient: true, cause: error });
  if (code.startsWith('E') && !code.startsWith('ERR_')) {
    return new DownloadError('io', `Could not write ${what} to disk (${detail}).`, { cause: error });
  }
  // An unknown failure inside the HTTP client: most likely the network, so let the retry policy decide.
  return new DownloadError('network', `Downloading ${what} failed (${detail}).`, { transient: true, cause: error });
}

/** The failure an HTTP status means for `what`; `hf` says the host is the Hugging Face endpoint. */
export function statusError(status: number, what: string, options: { hf: boolean; hfCode?: string; hasToken: boolean; retryAfter?: string }): DownloadError {
  if (status === 404 || status === 410 || options.hfCode === 'RepoNotFound' || options.hfCode === 'EntryNotFound') {
    return new DownloadError('not_found', `${what} was not found on the server (HTTP ${status}). Check the repository and file name.`);
  }
  if (status === 401 || status === 403) {
    if (!options.hf) return new DownloadError('auth', `The server refused access to ${what} (HTTP ${status}).`);
    const gated = options.hfCode === 'GatedRepo' ? ' It is a gated model: accept its licence on Hugging Face first.' : '';
    const token = options.hasToken
      ? 'The Hugging Face token has no access to it.'
      : 'It is gated or private: add a Hugging Face token that has access to it.';
    return new DownloadError('auth', `Hugging Face refused access to ${what} (HTTP ${status}). ${token}${gated}`);
  }
  if (status === 429) {
    return new DownloadError('rate_limited', `The server is rate-limiting downloads of ${what} (HTTP 429).`, {
      transient: true,
      ...retryAfterOption(options.retryAfter),
    });
  }
  if (status === 408 || status >= 500) {
    return new DownloadError(status === 408 || status === 504 ? 'timeout' : 'server', `The server failed while sending ${what} (HTTP ${status}).`, {
      transient: true,
      ...retryAfterOption(options.retryAfter),
    });
  }
  return new DownloadError('server', `The server answered HTTP ${status} for ${what}.`);
}

function retryAfterOption(value: string | undefined): { retryAfterMs?: number } {
  const ms = parseRetryAfterMs(value === undefined ? null : { get: (name) => (name === 'retry-after' ? value : null) });
  return ms === undefined ? {} : { retryAfterMs: ms };
}
