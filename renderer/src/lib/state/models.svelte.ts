/** The model manager: local models with their fit, the catalog, and downloads with live progress. */
import type { AppError, CatalogEntry, DownloadInfo, LocalModel, SpillwayApi } from '../../../../electron/contract/index.js';

export class ModelsState {
  models = $state<LocalModel[]>([]);
  catalog = $state<CatalogEntry[]>([]);
  downloads = $state<DownloadInfo[]>([]);
  error = $state<AppError | null>(null);
  loading = $state(false);
  /** Downloads still worth showing: running, paused or failed ones, and the last finished ones. */
  readonly visibleDownloads = $derived(this.downloads.filter((d) => d.state !== 'cancelled'));

  constructor(private readonly api: SpillwayApi) {
    api.on('models:update', (models) => {
      this.models = models;
    });
    api.on('download:progress', (info) => this.track(info));
  }

  async load(): Promise<void> {
    this.loading = true;
    const [models, catalog, downloads] = await Promise.all([this.api.modelsList({}), this.api.modelsCatalog({}), this.api.modelsDownloads({})]);
    this.loading = false;
    if (models.ok) this.models = models.value;
    else this.error = models.error;
    if (catalog.ok) this.catalog = catalog.value;
    if (downloads.ok) this.downloads = downloads.value;
  }

  async download(source: string, quantization?: string): Promise<void> {
    this.error = null;
    const result = await this.api.modelsDownload({ source, ...(quantization ? { quantization } : {}) });
    if (result.ok) this.track(result.value);
    else this.error = result.error;
  }

  async pause(id: string): Promise<void> {
    this.settle(await this.api.modelsPauseDownload({ id }));
  }

  async resume(id: string): Promise<void> {
    this.settle(await this.api.modelsResumeDownload({ id }));
  }

  async cancel(id: string): Promise<void> {
    this.settle(await this.api.modelsCancelDownload({ id }));
  }

  async add(path: string): Promise<boolean> {
    const result = await this.api.modelsAdd({ path });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    this.error = null;
    await this.refresh();
    return true;
  }

  /** Desktop: the system file picker; the chosen file is added. */
  async pick(): Promise<void> {
    const result = await this.api.modelsPick({});
    if (!result.ok) this.error = result.error;
    else if (result.value) await this.refresh();
  }

  /** Makes a model the local engine's (it loads in place); false when refused (`error` says why). */
  async setActive(path: string): Promise<boolean> {
    const result = await this.api.modelsSetActive({ path });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    await this.refresh();
    return true;
  }

  async remove(path: string): Promise<void> {
    const result = await this.api.modelsDelete({ path });
    if (!result.ok) this.error = result.error;
    else await this.refresh();
  }

  private async refresh(): Promise<void> {
    const models = await this.api.modelsList({});
    if (models.ok) this.models = models.value;
  }

  private settle(result: Awaited<ReturnType<SpillwayApi['modelsPauseDownload']>>): void {
    if (result.ok) this.track(result.value);
    else this.error = result.error;
  }

  private track(info: DownloadInfo): void {
    const at = this.downloads.findIndex((d) => d.id === info.id);
    if (at === -1) this.downloads.push(info);
    else this.downloads[at] = info;
  }
}

/** Bytes in the units people read. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** The fit verdict in plain words. */
export function fitText(model: LocalModel): string {
  const fit = model.inspection?.fit;
  if (!fit) return model.error ? 'Cannot be used' : 'Unknown';
  switch (fit.verdict) {
    case 'gpu': return 'Fits on the GPU';
    case 'partial-gpu': return `Partly on the GPU (${fit.gpuLayers} layers)`;
    case 'ram': return 'Fits in RAM';
    case 'too-large': return 'Too large for this machine';
    default: return fit.verdict satisfies never;
  }
}
