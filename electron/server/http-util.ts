/** Small HTTP helpers shared by the server's routes. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Larger bodies are refused: a whole novel of a prompt is a few megabytes at most. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** A request body that could not be taken in, with the status to answer. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/** How much of an oversized body is read and thrown away so the client, still sending, can read the 413. */
const DISCARD_LIMIT_BYTES = 256 * 1024 * 1024;
/** A client that sends nothing for this long is waiting for the answer (or gave up): it gets the 413 now. */
const DISCARD_IDLE_MS = 500;

/**
 * Reads the body as UTF-8 text, refusing it (BodyError 413) once it passes `limit` bytes. The refusal waits
 * until the rest of the body has been read and thrown away (up to a bound): a server that closes while the
 * client is still sending resets the connection, and the client never sees the 413.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const refuse = (): void => {
      const error = new BodyError(413, `The request body is larger than ${Math.round(limit / 1024 / 1024)} MB.`);
      void discard(req).then(() => reject(error));
    };
    // Keep nothing of a body the client announces as too large.
    if (Number(req.headers['content-length']) > limit) return refuse();
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (part: Buffer): void => {
      size += part.length;
      if (size <= limit) return void parts.push(part);
      settled = true;
      parts.length = 0;
      req.off('data', onData);
      refuse();
    };
    req.on('data', onData);
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(parts).toString('utf8'));
    });
    req.on('error', () => {
      if (settled) return;
      settled = true;
      reject(new BodyError(400, 'The request body could not be read.'));
    });
  });
}

/**
 * Reads and drops the rest of a refused body. Resolves at its end; when the client pauses (it may be
 * waiting for the answer before sending more); or when a client sending far more is cut off.
 */
function discard(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let dropped = 0;
    let timer: ReturnType<typeof setTimeout>;
    const stop = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const idle = (): void => {
      clearTimeout(timer);
      timer = setTimeout(stop, DISCARD_IDLE_MS);
    };
    idle();
    req.on('data', (part: Buffer) => {
      dropped += part.length;
      if (dropped > DISCARD_LIMIT_BYTES) req.destroy();
      else idle();
    });
    req.once('end', stop);
    req.once('close', stop);
    req.resume();
  });
}

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Sends a short plain-text (or HTML) response. */
export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
