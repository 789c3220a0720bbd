/**
 * Downloads as the contract shows them: catalog entries resolve to their Hugging Face file (with the
 * catalog's size and sha256 when sourced), progress is pushed as `download:progress`, and a finished
 * download shows up in the model list. Partial downloads survive a restart and are offered for resume.
 */
import type { DownloadInfo } from '../../contract/index.js';
import { ServiceError } from '../errors.js';
import type { EventHub } from '../event-hub.js';
import type { Catalog, CatalogEntry } from './catalog-schema.js';
import { downloadId, ModelDownloader, type DownloadProgress, type DownloadStatus, type ExpectedFile, type ModelDownloaderOptions } from './downloader.js';

export interface DownloadServiceDeps {
  events: EventHub;
  dir: string;
  hfToken: () => string | null;
  /** Called when a download finishes, so the model list refreshes. */
  onFinished: () => Promise<void>;
  catalog: () => Promise<Catalog>;
  downloader?: Partial<ModelDownloaderOptions>;
}

export class DownloadService {
  private readonly downloader: ModelDownloader;
  private readonly labels = new Map<string, string>();
  private readonly progress = new Map<string, DownloadProgress>();

  constructor(private readonly deps: DownloadServiceDeps) {
    this.downloader = new ModelDownloader({ dir: deps.dir, hfToken: () => deps.hfToken(), ...deps.downloader });
    this.downloader.subscribe((event) => {
      if (event.type === 'progress') {
        this.progress.set(event.progress.id, event.progress);
        const status = this.downloader.status(event.progress.id);
        if (status) deps.events.emit('download:progress', this.info(status));
        return;
      }
      deps.events.emit('download:progress', this.info(event.status));
      if (event.status.state === 'done') void deps.onFinished();
    });
  }

  /** Picks up partial downloads left by an earlier run (paused, ready to resume). */
  async restore(): Promise<void> {
    await this.downloader.restore();
  }

  /** Starts a download from a catalog id (with a quantization), `hf:…` or an https URL. */
  async start(source: string, quantization?: string): Promise<DownloadInfo> {
    let request: { source: string; expected?: ExpectedFile[] } = { source };
    let label = source;
    const entry = (await this.deps.catalog()).models.find((m) => m.id === source);
    if (entry) {
      ({ request, label } = fromCatalog(entry, quantization));
    } else if (!/^(hf:|https?:\/\/)/i.test(source)) {
      throw new ServiceError('INVALID_ARGUMENT', `"${source}" is not a catalog model, an hf: source or an https URL.`, 'source');
    }
    // Named before it starts: the first progress event goes out from inside start().
    this.labels.set(downloadId(request.source), label);
    let task;
    try {
      task = this.downloader.start(request);
    } catch (error) {
      throw new ServiceError('INVALID_ARGUMENT', error instanceof Error ? error.message : String(error), 'source');
    }
    this.labels.set(task.id, label);
    void task.finished.catch(() => {});
    return this.info(this.downloader.status(task.id)!);
  }

  list(): DownloadInfo[] {
    return this.downloader.list().map((status) => this.info(status));
  }

  async pause(id: string): Promise<DownloadInfo> {
    this.require(id);
    return this.info(await this.downloader.pause(id));
  }

  resume(id: string): DownloadInfo {
    this.require(id);
    const task = this.downloader.resume(id);
    void task.finished.catch(() => {});
    return this.info(this.downloader.status(id)!);
  }

  async cancel(id: string): Promise<DownloadInfo> {
    this.require(id);
    return this.info(await this.downloader.cancel(id));
  }

  close(): Promise<void> {
    return this.downloader.close();
  }

  private require(id: string): void {
    if (!this.downloader.status(id)) throw new ServiceError('NOT_FOUND', `There is no download ${id}.`, 'id');
  }

  private info(status: DownloadStatus): DownloadInfo {
    const live = status.state === 'downloading' ? this.progress.get(status.id) : undefined;
    const bytesDone = live?.bytesDone ?? status.bytesDone;
    const totalBytes = live?.totalBytes ?? status.totalBytes;
    return {
      id: status.id,
      source: status.source,
      label: this.labels.get(status.id) ?? status.files[0] ?? status.source,
      state: status.state,
      bytesDone,
      totalBytes,
      percent: totalBytes ? Math.min(100, (bytesDone * 100) / totalBytes) : null,
      bytesPerSecond: live?.speed ?? 0,
      etaSeconds: live?.etaSeconds ?? null,
      error: status.error ? { code: status.error.code, message: status.error.message, retryable: status.error.retryable } : null,
      modelPath: status.paths[0] ?? null,
    };
  }
}

function fromCatalog(entry: CatalogEntry, quantization?: string): { request: { source: string; expected: ExpectedFile[] }; label: string } {
  const wanted = quantization ?? entry.files[0]?.quantization;
  const file = entry.files.find((f) => f.quantization.toLowerCase() === wanted?.toLowerCase());
  if (!file) {
    throw new ServiceError('INVALID_ARGUMENT', `${entry.name} has no ${wanted} file; choose one of ${entry.files.map((f) => f.quantization).join(', ')}.`, 'quantization');
  }
  const parts = 'parts' in file ? file.parts : [{ file: file.file, sizeBytes: file.sizeBytes, sha256: file.sha256 }];
  const expected: ExpectedFile[] = parts.map((p) => ({
    file: p.file,
    ...(p.sizeBytes === undefined ? {} : { sizeBytes: p.sizeBytes }),
    ...(p.sha256 === undefined ? {} : { sha256: p.sha256 }),
  }));
  return { request: { source: `hf:${entry.repo}/${parts[0]!.file}`, expected }, label: `${entry.name} ${file.quantization}` };
}
