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

/** Reads the body as UTF-8 text, refusing it (BodyError 413) as soon as it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new BodyError(413, `The request body is larger than ${Math.round(limit / 1024 / 1024)} MB.`);
    // Refuse before reading a byte when the client announces the size honestly.
    if (Number(req.headers['content-length']) > limit) return reject(tooLarge());
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (part: Buffer) => {
      if (settled) return;
      size += part.length;
      if (size > limit) {
        settled = true;
        parts.length = 0;
        return reject(tooLarge());
      }
      parts.push(part);
    });
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

/** Sends a JSON response; a 413 also closes the connection so the rest of the upload is not read. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(status === 413 ? { connection: 'close' } : {}),
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
