/**
 * The running sha256 of a download, computed on a worker thread: hashing (~1.4 GB/s on one core) would
 * otherwise share the main thread with the network and cap a fast download at the hash's speed. Written
 * chunks are handed over without a copy: each socket read is its own ArrayBuffer, which is transferred to
 * the worker once it is on disk. `congested` tells the writer to hold back when the worker falls behind, so
 * a slow CPU never piles up memory.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** An incremental sha256 whose digest is asynchronous. */
export interface Sha256 {
  /** Feeds bytes (copied, so the caller may reuse its buffers). */
  update(buffers: readonly Uint8Array[]): void;
  /** Feeds bytes the caller will never touch again: whole ArrayBuffers among them are moved, not copied. */
  adopt(buffers: readonly Uint8Array[]): void;
  /** More than ~32 MB is waiting to be hashed: wait for `drained()` before feeding more. */
  readonly congested: boolean;
  drained(): Promise<void>;
  /** The hex digest of everything fed; the hash cannot be used after. */
  digest(): Promise<string>;
  /** Forgets the hash without a digest. */
  dispose(): void;
}

const MAX_IN_FLIGHT = 64 * 1024 * 1024;
/** Below this a chunk is cheaper to copy into the batch than to transfer on its own. */
const MIN_TRANSFER = 16 * 1024;

// Inline source, so the worker needs no file of its own in the build, the asar, or under tsx.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  let hash = hashes.get(m.id);
  if (m.op === 'update') {
    if (!hash) hashes.set(m.id, (hash = createHash('sha256')));
    let bytes = 0;
    for (const part of m.parts) {
      hash.update(new Uint8Array(part));
      bytes += part.byteLength;
    }
    parentPort.postMessage({ id: m.id, acked: bytes });
  } else if (m.op === 'digest') {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: (hash || createHash('sha256')).digest('hex') });
  } else if (m.op === 'drop') {
    hashes.delete(m.id);
  }
});
`;

type Reply = { id: number; acked: number } | { id: number; digest: string };
type Message = { op: 'update'; id: number; parts: ArrayBuffer[] } | { op: 'digest' | 'drop'; id: number };

/** One worker for all downloads; it keeps the process alive only while a hash is open. */
class HashWorker {
  private worker: Worker | null = null;
  private readonly open = new Map<number, { onReply: (reply: Reply) => void; onError: (error: Error) => void }>();
  private nextId = 1;

  register(onReply: (reply: Reply) => void, onError: (error: Error) => void): number {
    if (!this.worker) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', (reply: Reply) => this.open.get(reply.id)?.onReply(reply));
      const fail = (error: Error) => {
        if (this.worker !== worker) return;
        this.worker = null;
        for (const user of this.open.values()) user.onError(error);
        this.open.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`The hashing worker stopped (exit code ${code}).`)));
      this.worker = worker;
    }
    if (this.open.size === 0) this.worker.ref();
    const id = this.nextId++;
    this.open.set(id, { onReply, onError });
    return id;
  }

  post(message: Message): void {
    this.worker?.postMessage(message, message.op === 'update' ? message.parts : []);
  }

  release(id: number): void {
    this.open.delete(id);
    if (this.open.size === 0) this.worker?.unref();
  }
}

const shared = new HashWorker();

class WorkerSha256 implements Sha256 {
  private readonly id: number;
  private inFlight = 0;
  private failure: Error | null = null;
  private waiters: Array<() => void> = [];
  private result: { resolve: (digest: string) => void; reject: (error: Error) => void } | null = null;
  private done = false;

  constructor() {
    this.id = shared.register(
      (reply) => {
        if ('acked' in reply) {
          this.inFlight -= reply.acked;
          if (!this.congested) this.wake();
        } else {
          shared.release(this.id);
          this.result?.resolve(reply.digest);
        }
      },
      (error) => {
        this.failure = error;
        this.wake();
        this.result?.reject(error);
      },
    );
  }

  get congested(): boolean {
    return this.inFlight > MAX_IN_FLIGHT && !this.failure;
  }

  update(buffers: readonly Uint8Array[]): void {
    this.send(buffers, false);
  }

  adopt(buffers: readonly Uint8Array[]): void {
    this.send(buffers, true);
  }

  drained(): Promise<void> {
    return this.congested ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    this.done = true;
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      shared.post({ op: 'digest', id: this.id });
    });
  }

  dispose(): void {
    if (this.done) return;
    this.done = true;
    shared.post({ op: 'drop', id: this.id });
    shared.release(this.id);
    this.wake();
  }

  /** In order: runs of small or shared chunks are copied into one part, whole owned buffers moved as is. */
  private send(buffers: readonly Uint8Array[], owned: boolean): void {
    if (this.done) return;
    const parts: ArrayBuffer[] = [];
    let pending: Uint8Array[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const copy = new Uint8Array(pending.reduce((sum, b) => sum + b.length, 0));
      let offset = 0;
      for (const b of pending) {
        copy.set(b, offset);
        offset += b.length;
      }
      parts.push(copy.buffer);
      pending = [];
    };
    let bytes = 0;
    for (const buffer of buffers) {
      bytes += buffer.length;
      const whole = buffer.buffer instanceof ArrayBuffer && buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
      if (owned && whole && buffer.length >= MIN_TRANSFER) {
        flush();
        parts.push(buffer.buffer as ArrayBuffer);
      } else pending.push(buffer);
    }
    flush();
    if (bytes === 0) return;
    this.inFlight += bytes;
    shared.post({ op: 'update', id: this.id, parts });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The same interface on the calling thread (where a worker is not wanted or not available). */
class InlineSha256 implements Sha256 {
  private readonly hash = createHash('sha256');
  readonly congested = false;
  update(buffers: readonly Uint8Array[]): void {
    for (const buffer of buffers) this.hash.update(buffer);
  }
  adopt(buffers: readonly Uint8Array[]): void {
    this.update(buffers);
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest('hex'));
  }
  dispose(): void {}
}

/** A new running sha256: on the shared worker, or inline on the calling thread. */
export function createSha256(onWorker: boolean): Sha256 {
  if (!onWorker) return new InlineSha256();
  try {
    return new WorkerSha256();
  } catch {
    return new InlineSha256();
  }
}
