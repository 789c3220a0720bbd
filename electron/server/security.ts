/**
 * Who may talk to the headless server. Bound to loopback it serves only this machine, but a web page the
 * user visits can still reach 127.0.0.1: the Host check defeats DNS rebinding (a hostile name resolving to
 * 127.0.0.1 arrives with its own Host header), and the Origin check refuses cross-origin browser requests
 * (no CORS headers are ever sent, so nothing cross-origin may be read either). On any other interface an
 * API key is mandatory.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

function bare(host: string): string {
  return host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = bare(host);
  if (h === 'localhost' || h === '::1' || h === '::ffff:127.0.0.1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** True for 0.0.0.0 and ::, which listen on every interface. */
export function isWildcardHost(host: string): boolean {
  const h = bare(host);
  return h === '0.0.0.0' || h === '::' || h === '';
}

/** Throws unless the bind is loopback or protected by an API key. */
export function assertBindAllowed(host: string, apiKey: string | undefined): void {
  if (isLoopbackHost(host) || apiKey) return;
  throw new Error(
    `Refusing to listen on ${host} without an API key: anyone who can reach this machine could use your models and read your conversations. ` +
      'Set an API key (--api-key), or listen on 127.0.0.1.',
  );
}

/** `host:port` as it appears in a Host header (IPv6 in brackets). */
export function hostWithPort(host: string, port: number): string {
  const h = bare(host);
  return `${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
}

/**
 * The Host header values this server answers to, or null for any. Null only for a wildcard bind, which
 * requires an API key: a DNS-rebinding page cannot supply the key, and the machine's addresses are many.
 */
export function allowedHostHeaders(host: string, port: number): Set<string> | null {
  if (isWildcardHost(host)) return null;
  const names = isLoopbackHost(host) ? new Set([bare(host), '127.0.0.1', 'localhost', '::1']) : new Set([bare(host)]);
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(hostWithPort(name, port));
    // Browsers leave the default port out of the Host header.
    if (port === 80) allowed.add(isIP(name) === 6 ? `[${name}]` : name);
  }
  return allowed;
}

/** Checks the Host header against the allowed set. */
export function hostAllowed(req: IncomingMessage, allowed: Set<string> | null): boolean {
  if (allowed === null) return true;
  const host = req.headers.host;
  return typeof host === 'string' && allowed.has(host.trim().toLowerCase());
}

/** No Origin (curl, SDKs, same-origin GET) or this server's own origin; anything else, including `null`, is refused. */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers.host;
  return typeof host === 'string' && origin.trim().toLowerCase() === `http://${host.trim().toLowerCase()}`;
}

/** The request's Origin when it is one of those allowed for CORS (`--allow-origin`), else null. */
export function corsOrigin(req: IncomingMessage, allowed: ReadonlySet<string>): string | null {
  const origin = req.headers.origin?.trim();
  return origin && allowed.has(origin.toLowerCase()) ? origin : null;
}

/** The headers that let a page of `origin` read this answer, including who answered it. */
export function allowCrossOrigin(res: ServerResponse, origin: string): void {
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-expose-headers', 'x-spillway-driver, x-spillway-endpoint, x-spillway-tier, retry-after');
}

/** Answers a CORS preflight: the methods /v1 serves and the headers the page asked to send. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  const asked = req.headers['access-control-request-headers'];
  res.writeHead(204, {
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': typeof asked === 'string' && asked.trim() ? asked : 'authorization, content-type',
    'access-control-max-age': '600',
    'content-length': '0',
  });
  res.end();
}

/** Compares `Authorization: Bearer <key>` in constant time (hashing first makes the lengths equal). */
export function bearerMatches(req: IncomingMessage, apiKey: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!match?.[1]) return false;
  const given = createHash('sha256').update(match[1].trim()).digest();
  const expected = createHash('sha256').update(apiKey).digest();
  return timingSafeEqual(given, expected);
}
