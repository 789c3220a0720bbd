/**
 * The downloader's HTTP layer on undici. Redirects are followed here rather than by undici, for two
 * reasons: the Hugging Face token must reach only the Hugging Face origin (the resolve URL redirects to a
 * CDN with a signed URL), and Hugging Face puts the file's real size and sha256 (`x-linked-size`,
 * `x-linked-etag`) on the redirect itself, not on the CDN's answer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Writable, finished } from 'node:stream';
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { DownloadError, statusError, toDownloadError } from './download-errors.js';

export interface HttpContext {
  dispatcher: Dispatcher;
  /** Origin of the Hugging Face endpoint: the only origin that is sent the token. */
  hfOrigin: string;
  token: () => string | undefined;
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs: number;
}

/** What a request ended with, after redirects. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** `x-linked-size`/`x-linked-etag`/`x-error-code` from any hop (Hugging Face sets them on the redirect). */
  linkedSize: number | null;
  linkedEtag: string | null;
  hfErrorCode: string | undefined;
  /** Whether the final hop was the Hugging Face origin. */
  hf: boolean;
}

const MAX_REDIRECTS = 8;

/** undici's EnvHttpProxyAgent when HTTPS_PROXY/HTTP_PROXY is set in `env` (it honours NO_PROXY), else null. */
export function proxyDispatcher(env: NodeJS.ProcessEnv = process.env): Dispatcher | null {
  const httpProxy = env.http_proxy || env.HTTP_PROXY || '';
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY || '';
  if (!httpProxy && !httpsProxy) return null;
  // Passed explicitly (an empty string means none), so `env` decides rather than whatever process.env holds.
  return new EnvHttpProxyAgent({ httpProxy, httpsProxy, noProxy: env.no_proxy || env.NO_PROXY || '' });
}

/** HTTPS anywhere; plain HTTP only to this machine (tests, a local mirror). */
export function checkUrl(raw: string | URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DownloadError('invalid_source', `${what} is not a valid URL: ${String(raw)}`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return url;
  throw new DownloadError('invalid_source', `${what} must be an https:// URL (plain http is only allowed to this computer): ${url.origin}`);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * One request, redirects followed by hand. A 2xx body goes to the Writable `accept` returns (nothing is
 * read into memory); any other body is discarded. Bytes that arrived before a network failure are flushed
 * to the sink before the failure is reported, so a resume starts exactly after them.
 */
export async function send(
  ctx: HttpContext,
  start: URL,
  init: { method: 'GET' | 'HEAD'; headers?: Record<string, string>; signal: AbortSignal; what: string },
  accept: (answer: HttpAnswer) => Writable | null = () => null,
): Promise<HttpAnswer> {
  let url = start;
  const answer: HttpAnswer = { status: 0, headers: {}, linkedSize: null, linkedEtag: null, hfErrorCode: undefined, hf: false };
  for (let hop = 0; ; hop++) {
    answer.hf = url.origin === ctx.hfOrigin;
    const headers: Record<string, string> = { 'user-agent': 'Spillway', ...init.headers };
    const token = answer.hf ? ctx.token() : undefined;
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      await dispatchOnce(ctx, url, init.method, headers, init.signal, (status, h) => {
        answer.status = status;
        answer.headers = h;
        answer.linkedSize ??= positiveInt(header(h, 'x-linked-size'));
        answer.linkedEtag ??= header(h, 'x-linked-etag') ?? null;
        answer.hfErrorCode ??= header(h, 'x-error-code');
        return status >= 200 && status < 300 ? accept(answer) : null;
      });
    } catch (error) {
      throw toDownloadError(error, init.what);
    }
    const location = header(answer.headers, 'location');
    if (answer.status < 300 || answer.status >= 400 || answer.status === 304 || !location) return answer;
    if (hop >= MAX_REDIRECTS) throw new DownloadError('server', `Too many redirects while fetching ${init.what}.`);
    url = checkUrl(new URL(location, url), `The redirect for ${init.what}`);
  }
}

/** Throws the DownloadError an unsuccessful answer means. */
export function failFor(ctx: HttpContext, answer: HttpAnswer, what: string): never {
  throw statusError(answer.status, what, {
    hf: answer.hf,
    hasToken: Boolean(ctx.token()),
    ...(answer.hfErrorCode ? { hfCode: answer.hfErrorCode } : {}),
    ...(header(answer.headers, 'retry-after') ? { retryAfter: header(answer.headers, 'retry-after')! } : {}),
  });
}

/** GET a small JSON document (the Hugging Face model API). */
export async function getJson(ctx: HttpContext, url: URL, signal: AbortSignal, what: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  const collector = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > 32 * 1024 * 1024) return callback(new DownloadError('server', `The answer for ${what} is too large.`));
      chunks.push(chunk);
      callback();
    },
  });
  const answer = await send(ctx, url, { method: 'GET', headers: { accept: 'application/json' }, signal, what }, () => collector);
  if (answer.status !== 200) failFor(ctx, answer, what);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new DownloadError('server', `The server's answer for ${what} is not valid JSON.`, { transient: true });
  }
}

/** What a HEAD request says about a file, before any of it is downloaded. */
export interface FileFacts {
  size: number | null;
  sha256: string | null;
}

/** Size and sha256 from headers: Hugging Face's LFS headers first, then Content-Range/Content-Length. */
export function factsFrom(answer: HttpAnswer): FileFacts {
  return { size: answer.linkedSize ?? declaredTotal(answer), sha256: lfsSha256(answer.linkedEtag) };
}

/** The whole file's size by the standard headers: Content-Range's total on a 206, Content-Length on a 200. */
export function declaredTotal(answer: HttpAnswer): number | null {
  if (answer.status === 206) return parseContentRange(header(answer.headers, 'content-range'))?.total ?? null;
  return answer.status === 200 ? positiveInt(header(answer.headers, 'content-length')) : null;
}

/** HEAD the file for its size and sha256; servers that refuse HEAD just give no facts. */
export async function probe(ctx: HttpContext, url: URL, signal: AbortSignal, what: string): Promise<FileFacts> {
  const answer = await send(ctx, url, { method: 'HEAD', signal, what });
  if (answer.status === 200) return factsFrom(answer);
  if (answer.status === 405 || answer.status === 501) return { size: null, sha256: null };
  failFor(ctx, answer, what);
}

/** `x-linked-etag` is the LFS object's sha256 (quoted) on Hugging Face; anything else is not a hash. */
export function lfsSha256(etag: string | null | undefined): string | null {
  const value = etag?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  return value && /^[0-9a-f]{64}$/.test(value) ? value : null;
}

/** `bytes 0-99/1000` gives start 0 and total 1000; a 416 sends an asterisk for the range: total only. */
export function parseContentRange(value: string | undefined): { start: number | null; total: number | null } | null {
  const match = value?.match(/^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i);
  if (!match) return null;
  return { start: match[1] === undefined ? null : Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) };
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function positiveInt(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * A single request through undici's dispatcher API: chunks go straight from the HTTP parser into the sink
 * (no intermediate stream whose buffer a socket error would throw away), and the sink's backpressure
 * pauses the socket.
 */
function dispatchOnce(
  ctx: HttpContext,
  url: URL,
  method: 'GET' | 'HEAD',
  headers: Record<string, string>,
  signal: AbortSignal,
  accept: (status: number, headers: IncomingHttpHeaders) => Writable | null,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let sink: Writable | null = null;
    let unwanted = false;
    let controller: Dispatcher.DispatchController | null = null;
    let settled = false;
    const onAbort = () => controller?.abort(signal.reason instanceof Error ? signal.reason : abortError());

    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (!sink) return error === undefined || unwanted ? resolve() : reject(error);
      const target = sink;
      if (!target.destroyed) target.end();
      // A write failure (disk full, a bad first chunk) outranks the network error it caused.
      finished(target, (writeError) => {
        if (writeError && (writeError as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') reject(writeError);
        else if (error !== undefined) reject(error);
        else resolve();
      });
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (signal.aborted) c.abort(signal.reason instanceof Error ? signal.reason : abortError());
      },
      onResponseStart(c, statusCode, h) {
        try {
          sink = accept(statusCode, h);
        } catch (error) {
          // Thrown into undici's parser it would be lost; as an abort it becomes this request's failure.
          return c.abort(error instanceof Error ? error : new Error(String(error)));
        }
        if (!sink && method === 'GET' && statusCode >= 200 && statusCode < 300) {
          // A body nobody wants (a range that does not fit, the wrong file) could be gigabytes: stop it.
          unwanted = true;
          return c.abort(new Error('The body is not wanted.'));
        }
        sink?.on('drain', () => c.resume());
        sink?.once('error', (error) => c.abort(error));
      },
      onResponseData(c, chunk) {
        if (sink && !sink.destroyed && !sink.write(chunk)) c.pause();
      },
      onResponseEnd() {
        settle();
      },
      onResponseError(_c, error) {
        settle(error);
      },
    };

    if (signal.aborted) return reject(signal.reason instanceof Error ? signal.reason : abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      ctx.dispatcher.dispatch(
        {
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method,
          headers,
          headersTimeout: ctx.headersTimeoutMs,
          bodyTimeout: ctx.bodyTimeoutMs,
        },
        handler,
      );
    } catch (error) {
      settle(error);
    }
  });
}

function abortError(): Error {
  return new DOMException('The download was stopped.', 'AbortError');
}
