/**
 * Downloads one file into its `.part` file: resumes with `Range` (and `If-Range` on the ETag), starts over
 * when the server ignores the range or the file changed, retries transient failures with exponential
 * backoff from the bytes already written, and verifies size, GGUF magic and sha256 at the end.
 */
import { ftruncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DownloadError, toDownloadError } from './download-errors.js';
import { checkUrl, declaredTotal, failFor, header, lfsSha256, parseContentRange, send, type HttpContext } from './http.js';
import { GGUF_MAGIC, magicProblem, PartSink, type PartState } from './part-sink.js';
import type { PartRecord } from './partial-store.js';
import { createSha256 } from './sha256.js';

export interface RetryPolicy {
  /** Consecutive failures without progress before giving up. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 6, baseDelayMs: 500, maxDelayMs: 30_000 };

export interface TransferOptions {
  http: HttpContext;
  /** The `.part` file. */
  path: string;
  /** Updated in place as facts arrive (size, sha256, etag, done, verified). */
  part: PartRecord;
  signal: AbortSignal;
  retry: RetryPolicy;
  /** Bytes written since the last call; `position` is where the part now is. */
  onProgress: (position: number, bytes: number) => void;
  /** The record changed in a way worth persisting. */
  onCheckpoint: () => void;
  /** All bytes are in; verification starts. */
  onVerifying: () => void;
  /** Hash on the worker thread rather than between network reads. */
  hashOnWorker: boolean;
}

type Outcome = 'ended' | 'complete' | 'restart';

/** Runs `task` again after transient failures (a model API call, a HEAD), with the same backoff. */
export async function withRetries<T>(task: () => Promise<T>, what: string, retry: RetryPolicy, signal: AbortSignal): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await task();
    } catch (error) {
      if (signal.aborted) throw new DownloadError('aborted', `The download of ${what} was stopped.`);
      const failure = toDownloadError(error, what);
      if (!failure.transient || failures > retry.maxRetries) throw failure;
      await backoff(retry, failures, failure, signal, what);
    }
  }
}

function backoff(retry: RetryPolicy, failures: number, failure: DownloadError, signal: AbortSignal, what: string): Promise<void> {
  // No jitter: one app retrying one file is no thundering herd, and fixed steps keep tests predictable.
  const delay = Math.min(retry.maxDelayMs, failure.retryAfterMs ?? retry.baseDelayMs * 2 ** (failures - 1));
  return sleep(delay, undefined, { signal }).catch(() => {
    throw new DownloadError('aborted', `The download of ${what} was stopped.`);
  });
}

/** Brings the part to its full, verified size; throws a DownloadError otherwise. */
export async function transferPart(o: TransferOptions): Promise<void> {
  const { part } = o;
  const file = await openPart(o.path);
  const state: PartState = { position: 0, hash: null, head: Buffer.alloc(0) };
  try {
    await prepare(file, part, state, o.hashOnWorker);
    let failures = 0;
    let restarts = 0;
    for (;;) {
      if (part.size !== null && state.position === part.size) break;
      const before = state.position;
      try {
        const outcome = await attempt(o, file.fd, state);
        if (outcome === 'complete') break;
        if (outcome === 'restart') {
          if (++restarts > 3) throw new DownloadError('server', `The server keeps answering with a different version of ${part.name}; try again later.`);
          reset(file.fd, state, part, o.hashOnWorker);
          continue;
        }
        if (part.size === null) {
          part.size = state.position; // no length was ever given: the end of the body is the end of the file
          break;
        }
        if (state.position < part.size) {
          throw new DownloadError('network', `The server ended ${part.name} early, at ${state.position} of ${part.size} bytes.`, { transient: true });
        }
      } catch (error) {
        if (o.signal.aborted) throw new DownloadError('aborted', `The download of ${part.name} was stopped.`);
        const failure = toDownloadError(error, part.name);
        if (!failure.transient) throw failure;
        if (state.position > before) failures = 0;
        if (++failures > o.retry.maxRetries) throw failure;
        await backoff(o.retry, failures, failure, o.signal, part.name);
      } finally {
        part.done = state.position;
        o.onCheckpoint();
      }
    }
    o.onVerifying();
    await verify(state, part);
    part.verified = true;
  } finally {
    state.hash?.dispose();
    await file.close();
  }
}

/** One GET from `state.position`; what the sink wrote is already reflected in `state`. */
async function attempt(o: TransferOptions, fd: number, state: PartState): Promise<Outcome> {
  const { part } = o;
  const headers: Record<string, string> = {};
  if (state.position > 0) {
    headers.range = `bytes=${state.position}-`;
    // If-Range takes only a strong validator; with it a changed file comes back whole (200), not spliced.
    if (part.etag && !part.etag.startsWith('W/')) headers['if-range'] = part.etag;
  }
  let outcome = 'ended' as Outcome;
  let conflict = null as DownloadError | null;
  const url = checkUrl(part.url, `The address of ${part.name}`);
  const answer = await send(o.http, url, { method: 'GET', headers, signal: o.signal, what: part.name }, (sofar) => {
    const range = parseContentRange(header(sofar.headers, 'content-range'));
    if (sofar.status === 206 && range?.start !== state.position) {
      outcome = 'restart';
      return null;
    }
    if (sofar.status === 200 && state.position > 0) reset(fd, state, part, o.hashOnWorker); // the server ignored the range, or the file changed
    // The catalog, Hugging Face's LFS size and the HTTP length must all agree, or this is not the file expected.
    const sizes = [part.size, sofar.linkedSize, declaredTotal(sofar)].filter((n): n is number => n !== null);
    const odd = sizes.find((n) => n !== sizes[0]);
    if (odd !== undefined) {
      conflict = sizeMismatch(part.name, sizes[0]!, odd);
      return null;
    }
    part.size = sizes[0] ?? null;
    const sha256 = lfsSha256(sofar.linkedEtag);
    if (!part.sha256 && sha256 && state.position === 0) {
      part.sha256 = sha256;
      state.hash = createSha256(o.hashOnWorker);
    }
    const etag = header(sofar.headers, 'etag');
    if (etag && !etag.startsWith('W/')) part.etag = etag;
    return new PartSink(fd, state, part.size, part.name, (bytes) => o.onProgress(state.position, bytes));
  });
  if (conflict) throw conflict;
  if (outcome === 'restart') return outcome;
  if (answer.status === 416) {
    const total = parseContentRange(header(answer.headers, 'content-range'))?.total ?? null;
    if (total !== null && part.size !== null && total !== part.size) throw sizeMismatch(part.name, part.size, total);
    const end = total ?? part.size;
    if (end !== null && state.position === end) {
      part.size = end;
      return 'complete';
    }
    return 'restart';
  }
  if (answer.status !== 200 && answer.status !== 206) failFor(o.http, answer, part.name);
  return 'ended';
}

async function openPart(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toDownloadError(error, path);
    return open(path, 'w+');
  }
}

/** Where the part file is, with the hash of what is already there (read back once, on resume). */
async function prepare(file: FileHandle, part: PartRecord, state: PartState, onWorker: boolean): Promise<void> {
  let size = (await file.stat()).size;
  if (part.size !== null && size > part.size) {
    await file.truncate(0);
    size = 0;
  }
  state.position = size;
  state.hash = part.sha256 ? createSha256(onWorker) : null;
  const buffer = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 8 * 1024 * 1024));
  for (let offset = 0; offset < size && (state.hash || offset === 0); ) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - offset), offset);
    if (bytesRead === 0) break;
    if (offset === 0) state.head = Buffer.from(buffer.subarray(0, Math.min(bytesRead, GGUF_MAGIC.length)));
    state.hash?.update([buffer.subarray(0, bytesRead)]);
    await state.hash?.drained();
    offset += bytesRead;
  }
  const problem = magicProblem(state.head, part.name);
  if (problem) throw problem;
}

/** Back to byte zero: the bytes on disk belong to another version of the file. */
function reset(fd: number, state: PartState, part: PartRecord, onWorker: boolean): void {
  // Synchronous on purpose: this runs inside the HTTP client's callback, before the first new byte is written.
  ftruncateSync(fd, 0);
  state.position = 0;
  state.head = Buffer.alloc(0);
  state.hash?.dispose();
  state.hash = part.sha256 ? createSha256(onWorker) : null;
  part.etag = null;
  part.done = 0;
}

async function verify(state: PartState, part: PartRecord): Promise<void> {
  if (part.size !== null && state.position !== part.size) throw sizeMismatch(part.name, part.size, state.position);
  if (state.head.length < GGUF_MAGIC.length) throw magicProblem(state.head, part.name) ?? new DownloadError('not_gguf', `${part.name} is too short to be a GGUF model file, so it was removed.`);
  if (part.sha256 && state.hash) {
    const actual = await state.hash.digest();
    if (actual !== part.sha256) {
      throw new DownloadError(
        'corrupt',
        `${part.name} failed its checksum: the download was corrupted or the file changed on the server (sha256 ${actual.slice(0, 12)}…, expected ${part.sha256.slice(0, 12)}…). The partial download was removed; download it again.`,
      );
    }
  }
}

export function sizeMismatch(name: string, expected: number, actual: number): DownloadError {
  return new DownloadError(
    'corrupt',
    `${name} is ${actual} bytes on the server but ${expected} bytes were expected: the file changed or is not the one listed. Nothing of it was kept.`,
  );
}
