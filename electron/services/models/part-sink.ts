/**
 * The Writable a download body is written into: large positioned `writev`s of everything buffered, the
 * sha256 fed in the same pass (hashed on a worker thread), and the GGUF magic checked on the first bytes.
 * The hash only ever sees bytes whose write succeeded, so after any failure `position` and the hash still
 * describe exactly the bytes on disk and a retry continues from there without re-reading the file.
 */
import { writev } from 'node:fs';
import { Writable } from 'node:stream';
import { DownloadError } from './download-errors.js';
import type { Sha256 } from './sha256.js';

/** How far a part file is: bytes on disk, their running hash, and its first bytes (for the magic). */
export interface PartState {
  position: number;
  hash: Sha256 | null;
  head: Buffer;
}

export const GGUF_MAGIC = Buffer.from('GGUF', 'ascii');

/** Enough buffered to keep the disk busy while the network fills the next batch. */
const HIGH_WATER_MARK = 16 * 1024 * 1024;

export class PartSink extends Writable {
  private writing = false;
  private idle: (() => void) | null = null;

  constructor(
    private readonly fd: number,
    private readonly state: PartState,
    /** The expected size: bytes beyond it mean the server is sending some other file. */
    private readonly limit: number | null,
    private readonly what: string,
    private readonly onWritten: (bytes: number) => void,
  ) {
    super({ highWaterMark: HIGH_WATER_MARK });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeBuffers([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writeBuffers(chunks.map((c) => c.chunk), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // 'close' must not come before the write in flight has landed, or `position` could still move after it.
    if (this.writing) this.idle = () => callback(error);
    else callback(error);
  }

  private writeBuffers(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    if (this.limit !== null && this.state.position + length > this.limit) {
      return callback(new DownloadError('corrupt', `${this.what} is larger than the expected ${this.limit} bytes: the file changed on the server or is not the one expected. The partial download was removed.`));
    }
    if (this.state.head.length < GGUF_MAGIC.length) {
      this.state.head = Buffer.concat([this.state.head, ...firstBytes(buffers, GGUF_MAGIC.length - this.state.head.length)]);
      const problem = magicProblem(this.state.head, this.what);
      if (problem) return callback(problem);
    }
    this.writing = true;
    this.writeAt(buffers, length, callback);
  }

  private writeAt(buffers: Buffer[], length: number, callback: (error?: Error | null) => void): void {
    writev(this.fd, buffers, this.state.position, (error, written) => {
      this.state.position += written ?? 0;
      const done = written === length ? buffers : sliceBuffers(buffers, 0, written ?? 0);
      if (!error && written < length) {
        this.account(done, written);
        // A short write (rare on a regular file): keep going with the rest.
        return this.writeAt(sliceBuffers(buffers, written, length), length - written, callback);
      }
      this.writing = false;
      const hash = this.state.hash;
      if (hash?.congested && !error) {
        // The hash has fallen behind: hold the next write back, which in turn pauses the socket.
        this.account(done, written);
        void hash.drained().then(() => callback());
      } else {
        // Hand control back first, so the next batch's write is already queued while this one is hashed.
        callback(error);
        this.account(done, written ?? 0);
      }
      if (this.idle) this.idle();
    });
  }

  private account(buffers: Buffer[], bytes: number): void {
    if (bytes === 0) return;
    // The bytes are on disk and nothing reads these buffers again, so the hash may take them over.
    this.state.hash?.adopt(buffers);
    this.onWritten(bytes);
  }
}

/** Null when `head` may start a GGUF file; the refusal when it cannot. */
export function magicProblem(head: Buffer, what: string): DownloadError | null {
  const n = Math.min(head.length, GGUF_MAGIC.length);
  if (head.subarray(0, n).equals(GGUF_MAGIC.subarray(0, n))) return null;
  const shown = head.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return new DownloadError('not_gguf', `${what} is not a GGUF model file (it starts with "${shown}"), so it was removed.`);
}

function firstBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const buffer of buffers) {
    if (n <= 0) break;
    out.push(buffer.subarray(0, n));
    n -= Math.min(n, buffer.length);
  }
  return out;
}

/** The bytes [from, to) of the buffers laid end to end, without copying. */
function sliceBuffers(buffers: Buffer[], from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const buffer of buffers) {
    const start = Math.max(from - offset, 0);
    const end = Math.min(to - offset, buffer.length);
    if (end > start) out.push(buffer.subarray(start, end));
    offset += buffer.length;
  }
  return out;
}
