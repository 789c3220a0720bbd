/**
 * The app API for the browser UI, the same contract as IPC: `POST /api/<channel>` answers the channel's
 * Result, and `GET /api/events` streams every service event as server-sent events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ATTACHMENT_LIMITS, CHANNELS, IMPORT_LIMIT_BYTES, type AppApi, type AppError, type Channel, type Result } from '../contract/index.js';
import { errorHeaders, statusFor } from './http-status.js';
import { BodyError, MAX_BODY_BYTES, readBody, sendJson } from './http-util.js';
import { openEventStream, startHeartbeat, writeEvent } from './sse.js';

// A Set, not a property lookup on the handlers: `/api/constructor` must not reach Object.prototype.
const KNOWN_CHANNELS: ReadonlySet<string> = new Set(CHANNELS);

/**
 * Requests that carry files may be larger: a message's attachments (base64), and an export to import, sent
 * as a JSON string (its escapes can double the file's size on the way).
 */
const BODY_LIMITS: Partial<Record<Channel, number>> = {
  'chat:send': MAX_BODY_BYTES + Math.ceil((ATTACHMENT_LIMITS.totalBytes * 4) / 3),
  'conversations:import': 2 * IMPORT_LIMIT_BYTES,
};

/** A Result error as the app API sends it. */
export function errorResult(code: AppError['code'], message: string): Result<never> {
  return { ok: false, error: { code, message, retryable: false } };
}

/** Answers one request under /api. */
export async function handleAppApi(req: IncomingMessage, res: ServerResponse, path: string, services: AppApi): Promise<void> {
  if (path === '/api/events') {
    if (req.method !== 'GET') return sendJson(res, 405, errorResult('INVALID_ARGUMENT', 'Use GET for /api/events.'), { allow: 'GET' });
    return streamEvents(res, services);
  }
  let channel: string;
  try {
    channel = decodeURIComponent(path.slice('/api/'.length));
  } catch {
    channel = '';
  }
  if (!KNOWN_CHANNELS.has(channel)) return sendJson(res, 404, errorResult('NOT_FOUND', `Unknown channel "${channel}".`));
  if (req.method !== 'POST') return sendJson(res, 405, errorResult('INVALID_ARGUMENT', `Use POST for /api/${channel}.`), { allow: 'POST' });

  let raw: string;
  try {
    raw = await readBody(req, BODY_LIMITS[channel as Channel]);
  } catch (error) {
    const status = error instanceof BodyError ? error.status : 400;
    return sendJson(res, status, errorResult('INVALID_ARGUMENT', error instanceof Error ? error.message : 'Unreadable body.'));
  }
  let request: unknown;
  try {
    // An empty body is the empty request, as for channels that take none.
    request = raw.trim() === '' ? undefined : JSON.parse(raw);
  } catch {
    return sendJson(res, 400, errorResult('INVALID_ARGUMENT', 'The request body is not valid JSON.'));
  }
  // The body is the channel's Result either way; the status says the same, for clients that read only it.
  const result = await services.call(channel as Channel, request);
  if (result.ok) return sendJson(res, 200, result);
  sendJson(res, statusFor(result.error.code), result, errorHeaders(result.error));
}

/** Forwards every service event until the client disconnects. */
function streamEvents(res: ServerResponse, services: AppApi): void {
  openEventStream(res);
  res.write(': connected\n\n');
  const unsubscribe = services.onAny((event, payload) => {
    writeEvent(res, payload, event);
  });
  const stopHeartbeat = startHeartbeat(res);
  res.on('close', () => {
    unsubscribe();
    stopHeartbeat();
  });
}
