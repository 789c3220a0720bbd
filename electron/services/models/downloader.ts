/**
 * Downloads GGUF models into the models folder. Bytes go to `.partial/<id>/<file>.part` with a record
 * beside them, so a download survives a quit or a crash; a file is renamed into the folder only once it
 * is complete and verified, so nothing half-written ever looks like a model. No UI and no IPC here: the
 * models service wires `subscribe` to the `download:*` events.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { DownloadError, toDownloadError } from './download-errors.js';
import type { DownloadEvent, DownloadProgress, DownloadRequest, DownloadState, DownloadStatus, DownloadTask, ModelDownloaderOptions } from './download-types.js';
import { hfEndpoint, parseModelSource } from './hf.js';
import { proxyDispatcher, type HttpContext } from './http.js';
import { bytesDone, createEntry, snapshot, totalBytes, type Entry } from './download-entry.js';
import { checkSpace } from './disk-space.js';
import { downloadId, ID_PATTERN, PartialStore, type PartialRecord } from './partial-store.js';
import { planDownload } from './plan.js';
import { etaSeconds } from './progress.js';
import { Slots } from './slots.js';
import { DEFAULT_RETRY, transferPart, type RetryPolicy } from './transfer.js';

export type * from './download-types.js';
export { downloadId };

const ACTIVE: ReadonlySet<DownloadState> = new Set(['queued', 'downloading', 'verifying']);

export class ModelDownloader {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(event: DownloadEvent) => void>();
  private readonly store: PartialStore;
  private readonly http: HttpContext;
  private readonly endpoint: string;
  private readonly retry: RetryPolicy;
  private readonly slots: Slots;
  /**
   * The agent this downloader made (and closes); an injected dispatcher belongs to the caller. Never the
   * global dispatcher: once Node's built-in fetch has run, that is Node's own bundled undici, whose
   * handler interface differs from this package's, and requests through it silently never start.
   */
  private readonly proxy: Dispatcher | null;

  constructor(private readonly options: ModelDownloaderOptions) {
    const env = options.env ?? process.env;
    this.endpoint = hfEndpoint(env);
    const token = options.hfToken;
    this.proxy = options.dispatcher ? null : (proxyDispatcher(env) ?? new Agent());
    this.http = {
      dispatcher: options.dispatcher ?? this.proxy!,
      hfOrigin: new URL(this.endpoint).origin,
      token: () => (typeof token === 'function' ? token() : token) || undefined,
      headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
    };
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.store = new PartialStore(options.dir);
    this.slots = new Slots(options.maxConcurrent ?? 2);
  }

  /** Listens to state changes and progress; returns the unsubscribe function. */
  subscribe(listener: (event: DownloadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts a download, or resumes the partial this source (or id) left; throws at once on a bad source. */
  start(request: DownloadRequest): DownloadTask {
    parseModelSource(request.source);
    const id = request.id ?? downloadId(request.source);
    if (!ID_PATTERN.test(id)) throw new DownloadError('invalid_source', `"${id}" is not a valid download id.`);
    const existing = this.entries.get(id);
    if (existing?.finished && ACTIVE.has(existing.state)) return { id, finished: existing.finished };
    const entry = existing ?? this.newEntry(id, request, null);
    entry.request = { ...request, id };
    return this.launch(entry);
  }

  /** Continues a paused, failed or restored download. */
  resume(id: string): DownloadTask {
    const entry = this.entries.get(id);
    if (!entry) throw new DownloadError('not_found', `There is no download "${id}" to resume.`);
    if (entry.finished && ACTIVE.has(entry.state)) return { id, finished: entry.finished };
    return this.launch(entry);
  }

  /** Stops a download and keeps its partial data for `resume`, also after a restart. */
  async pause(id: string): Promise<DownloadStatus> {
    const entry = this.require(id);
    if (ACTIVE.has(entry.state) && entry.finished) {
      entry.stopping = 'pause';
      entry.controller?.abort();
      await entry.finished;
    }
    return snapshot(entry);
  }

  /** Stops a download and removes its partial data and record: cancel leaves nothing. */
  async cancel(id: string): Promise<DownloadStatus> {
    const entry = this.require(id);
    if (ACTIVE.has(entry.state) && entry.finished) {
      entry.stopping = 'cancel';
      entry.controller?.abort();
      await entry.finished;
    }
    if (entry.state !== 'done' && entry.state !== 'cancelled') {
      await this.store.remove(id);
      this.clearPartial(entry);
      this.setState(entry, 'cancelled');
    }
    return snapshot(entry);
  }

  status(id: string): DownloadStatus | undefined {
    const entry = this.entries.get(id);
    return entry && snapshot(entry);
  }

  list(): DownloadStatus[] {
    return [...this.entries.values()].map((entry) => snapshot(entry));
  }

  /** Picks up the partial downloads a previous run left on disk, as `paused`. */
  async restore(): Promise<DownloadStatus[]> {
    for (const record of await this.store.list()) {
      const entry = this.entries.get(record.id);
      if (entry && (entry.finished || entry.record)) continue;
      this.newEntry(record.id, { source: record.source, id: record.id }, record).state = 'paused';
    }
    return this.list();
  }

  /** Pauses everything and lets go of the network (the app is quitting); partials stay for the next run. */
  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].filter((e) => ACTIVE.has(e.state)).map((e) => this.pause(e.id)));
    await this.proxy?.close();
  }

  private launch(entry: Entry): DownloadTask {
    entry.controller = new AbortController();
    entry.stopping = null;
    entry.error = undefined;
    this.setState(entry, 'queued');
    entry.finished = this.run(entry, entry.controller.signal);
    return { id: entry.id, finished: entry.finished };
  }

  private async run(entry: Entry, signal: AbortSignal): Promise<DownloadStatus> {
    const heartbeat = setInterval(() => this.emitProgress(entry, true), 1000);
    heartbeat.unref();
    let slot = false;
    try {
      await this.slots.acquire(signal);
      slot = true;
      entry.record ??= await this.store.load(entry.id);
      entry.resumable = entry.record !== null;
      const fresh = entry.record === null;
      const record = entry.record ?? (await planDownload(this.http, this.endpoint, { ...entry.request, id: entry.id }, this.retry, signal));
      entry.record = record;
      entry.files = record.parts.map((p) => p.name);
      // Before the first byte, so a refused download leaves nothing behind.
      await checkSpace(record, this.options.dir, this.options.freeSpace, this.options.spaceMarginBytes);
      if (fresh) await this.store.create(record);
      entry.resumable = true;
      this.setState(entry, 'downloading');
      for (const part of record.parts) {
        if (part.verified && part.done === part.size) continue;
        entry.file = part.name;
        part.verified = false;
        await transferPart({
          http: this.http,
          path: this.store.partPath(entry.id, part.name),
          part,
          signal,
          retry: this.retry,
          onProgress: (position, bytes) => this.onBytes(entry, part, position, bytes),
          onCheckpoint: () => void this.store.save(record).catch(() => undefined),
          onVerifying: () => this.setState(entry, 'verifying'),
          hashOnWorker: this.options.hashOnWorker ?? true,
        });
        await this.store.save(record);
        if (part !== record.parts.at(-1)) this.setState(entry, 'downloading');
      }
      // Every part is verified: only now do they become models, each with one atomic rename.
      entry.paths = [];
      for (const part of record.parts) {
        const target = join(this.options.dir, part.name);
        await rename(this.store.partPath(entry.id, part.name), target);
        entry.paths.push(target);
      }
      await this.store.remove(entry.id);
      this.clearPartial(entry);
      this.setState(entry, 'done');
    } catch (error) {
      await this.settleFailure(entry, toDownloadError(error, entry.file ?? entry.request.source));
    } finally {
      clearInterval(heartbeat);
      if (slot) this.slots.release();
    }
    return snapshot(entry);
  }

  private async settleFailure(entry: Entry, failure: DownloadError): Promise<void> {
    const stopping = entry.stopping ?? (failure.reason === 'aborted' ? 'pause' : null);
    if (stopping === 'cancel') {
      await this.store.remove(entry.id);
      this.clearPartial(entry);
      return this.setState(entry, 'cancelled');
    }
    if (stopping === 'pause') {
      if (entry.record && entry.resumable) await this.store.save(entry.record).catch(() => undefined);
      return this.setState(entry, 'paused');
    }
    // Keep what can be continued (the network gave out, a token is missing, space must be freed); remove
    // what cannot (corrupt, not a model, not found, disk full mid-write).
    const bytes = bytesDone(entry);
    const keep =
      entry.resumable &&
      (failure.transient || (failure.reason === 'auth' && bytes > 0) || failure.reason === 'no_space');
    if (keep && entry.record) await this.store.save(entry.record).catch(() => undefined);
    else {
      await this.store.remove(entry.id);
      this.clearPartial(entry);
    }
    entry.error = failure.toData();
    this.setState(entry, 'failed');
  }

  private onBytes(entry: Entry, part: PartialRecord['parts'][number], position: number, bytes: number): void {
    part.done = position;
    entry.meter.add(bytes);
    this.emitProgress(entry, false);
    const now = Date.now();
    if (now - entry.lastSave >= 2000 && entry.record) {
      entry.lastSave = now;
      void this.store.save(entry.record).catch(() => undefined);
    }
  }

  private emitProgress(entry: Entry, heartbeat: boolean): void {
    const now = performance.now();
    const interval = heartbeat ? 1000 : (this.options.progressIntervalMs ?? 100);
    if (now - entry.lastEmit < interval || entry.state !== 'downloading') return;
    entry.lastEmit = now;
    const done = bytesDone(entry);
    const total = totalBytes(entry);
    const speed = entry.meter.speed(now);
    const progress: DownloadProgress = {
      id: entry.id,
      file: entry.file,
      bytesDone: done,
      totalBytes: total,
      percent: total ? Math.min(100, (done / total) * 100) : null,
      speed,
      etaSeconds: etaSeconds(total === null ? null : total - done, speed),
    };
    this.emit({ type: 'progress', progress });
  }

  private setState(entry: Entry, state: DownloadState): void {
    entry.state = state;
    if (state === 'downloading') entry.meter.reset();
    this.emit({ type: 'state', status: snapshot(entry) });
  }

  private emit(event: DownloadEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken subscriber must not break the download.
      }
    }
  }

  private clearPartial(entry: Entry): void {
    entry.total = totalBytes(entry);
    entry.record = null;
    entry.resumable = false;
  }

  private newEntry(id: string, request: DownloadRequest, record: PartialRecord | null): Entry {
    const entry = createEntry(id, request, record);
    this.entries.set(id, entry);
    return entry;
  }

  private require(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new DownloadError('not_found', `There is no download "${id}".`);
    return entry;
  }
}
