/**
 * What network failures mean, shared by the endpoint driver and the model downloader: the errno codes
 * worth a sentence, the cause chain walk that finds them, and the Retry-After header.
 */

/** Errno codes of a failed connection, each with what it tells the user about the server. */
export const CONNECTION_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'refused the connection. Is the server running?',
  ENOTFOUND: 'could not be found. Check the host name.',
  EAI_AGAIN: 'could not be looked up. Check your network or DNS.',
  ECONNRESET: 'reset the connection.',
  ECONNABORTED: 'aborted the connection.',
  EPIPE: 'closed the connection while it was being written to.',
  EHOSTUNREACH: 'is unreachable from this network.',
  EHOSTDOWN: 'is down.',
  ENETUNREACH: 'is unreachable from this network.',
  ENETDOWN: 'is unreachable: the network is down.',
  UND_ERR_SOCKET: 'closed the connection unexpectedly.',
  UND_ERR_CLOSED: 'closed the connection unexpectedly.',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'sent less than it announced.',
};

/** Errno codes of a connection or response that took too long. */
export const TIMEOUT_FAILURES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The first errno-style `code` along an error's cause chain (and inside AggregateErrors), or ''. */
export function errnoCode(error: unknown): string {
  for (let e: unknown = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code in CONNECTION_FAILURES || TIMEOUT_FAILURES.has(code) || /^E[A-Z]+$/.test(code))) return code;
    const nested = (e as { errors?: unknown }).errors; // AggregateError from happy-eyeballs dialing
    if (Array.isArray(nested)) {
      const inner = nested.map(errnoCode).find((c) => c !== '');
      if (inner) return inner;
    }
  }
  return '';
}

/** Reads `retry-after-ms`, then `Retry-After` as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfterMs(headers: { get(name: string): string | null } | undefined | null, now = Date.now()): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.ceil(Number(ms));
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
