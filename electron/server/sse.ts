/** Server-sent events: the one streaming format both the app API and the OpenAI-compatible API use. */
import type { ServerResponse } from 'node:http';

/** A client this far behind is not reading; dropping it beats buffering without bound. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Sends the event-stream headers; nothing is buffered by proxies or the browser cache. */
export function openEventStream(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...headers,
  });
  res.flushHeaders();
}

/** Writes one event (`event:` line only when named); false when the client is gone or was dropped. */
export function writeEvent(res: ServerResponse, data: unknown, event?: string): boolean {
  if (res.destroyed || res.writableEnded) return false;
  if (res.writableLength > MAX_BUFFERED_BYTES) {
    res.destroy();
    return false;
  }
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  res.write(`${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`);
  return true;
}

/** Writes a comment line every `intervalMs` so idle proxies and clients keep the stream open; returns the stop function. */
export function startHeartbeat(res: ServerResponse, intervalMs = 15_000): () => void {
  const timer = setInterval(() => {
    if (!res.destroyed && !res.writableEnded) res.write(': heartbeat\n\n');
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
