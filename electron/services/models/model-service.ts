/**
 * The local models: GGUF files in the models folder plus files added from elsewhere, each described by the
 * inference host (what it is, whether it fits). Switching the active model reloads the engine in place.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { EngineStatus, LocalModel, ModelInspection } from '../../contract/index.js';
import { ServiceError, toAppError } from '../errors.js';
import type { EventHub } from '../event-hub.js';
import type { RouterService } from '../router-service.js';
import type { SettingsService } from '../settings-service.js';

/** Later parts of a split GGUF load with the first; only the first is listed. */
const LATER_PART = /-0*([2-9]|\d{2,})-of-\d+\.gguf$/i;
const SPLIT_PART = /-(\d+)-of-(\d+)\.gguf$/i;

export interface ModelServiceDeps {
  routing: RouterService;
  events: EventHub;
  settings: SettingsService;
  /** The models folder chosen at start. */
  modelsDir: string;
}

export class ModelService {
  private readonly inspections = new Map<string, { key: string; result: ModelInspection | null; error: LocalModel['error'] }>();
  /** Inspections run one at a time: each may read a large file's header. */
  private inspecting: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ModelServiceDeps) {
    // The model in use can change without this service (a path given at first run, Settings → Local).
    let inUse = deps.settings.current().local.modelPath;
    deps.settings.onChange((next) => {
      if (next.local.modelPath === inUse) return;
      inUse = next.local.modelPath;
      this.changed().catch(() => {});
    });
  }

  /**
   * Every known model, each with its fit estimate: the model in use first when it lives elsewhere (given
   * with `--model`, or by path at first run), then the models folder's, then the added ones.
   */
  async list(): Promise<LocalModel[]> {
    const dir = this.deps.modelsDir;
    const inFolder = await readdir(dir).catch(() => [] as string[]);
    const paths = inFolder.filter((name) => name.toLowerCase().endsWith('.gguf') && !LATER_PART.test(name)).map((name) => join(dir, name));
    const settings = this.deps.settings.current();
    const extra = settings.models.extraPaths.filter((p) => !paths.includes(p));
    const active = settings.local.modelPath;
    const elsewhere = active !== null && !paths.includes(active) && !extra.includes(active) ? [active] : [];
    const models: LocalModel[] = [];
    for (const path of elsewhere) models.push(await this.describe(path, 'in-use'));
    for (const path of [...paths, ...extra]) models.push(await this.describe(path, paths.includes(path) ? 'models-folder' : 'added'));
    return models;
  }

  /** Adds a GGUF file from anywhere on disk; refuses what is not a usable model, naming why. */
  async add(rawPath: string): Promise<LocalModel> {
    const path = resolve(rawPath);
    if (!isAbsolute(rawPath) && rawPath !== path) throw new ServiceError('INVALID_ARGUMENT', `Give the model's full path (got "${rawPath}").`, 'path');
    await this.requireFile(path);
    const model = await this.describe(path, 'added');
    if (model.error) throw new ServiceError('INVALID_ARGUMENT', `This file cannot be used as a model: ${model.error.message}`, 'path');
    const { extraPaths } = this.deps.settings.current().models;
    if (dirname(path) !== this.deps.modelsDir && !extraPaths.includes(path)) {
      await this.deps.settings.update({ models: { extraPaths: [...extraPaths, path] } });
    }
    await this.changed();
    return { ...model, source: dirname(path) === this.deps.modelsDir ? 'models-folder' : 'added' };
  }

  /** Makes `path` the local engine's model; the engine reloads without an app restart. */
  async setActive(path: string): Promise<EngineStatus> {
    await this.requireFile(path);
    await this.deps.settings.update({ local: { modelPath: path } });
    await this.changed();
    return this.deps.routing.engineStatus();
  }

  /** Deletes a downloaded model (all its parts) or forgets an added one; never the model that is answering. */
  async delete(path: string): Promise<void> {
    const settings = this.deps.settings.current();
    const known = (await this.list()).find((m) => m.path === path);
    if (!known) throw new ServiceError('NOT_FOUND', `Spillway does not know a model at ${path}.`, 'path');
    if (settings.local.modelPath === path) {
      if (this.deps.routing.localBusy()) throw new ServiceError('BUSY', 'This model is answering right now; stop the answer or wait, then delete it.');
      await this.deps.settings.update({ local: { modelPath: null } });
    }
    if (known.source === 'models-folder') {
      for (const part of await this.partsOf(path)) await unlink(part).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    } else {
      await this.deps.settings.update({ models: { extraPaths: settings.models.extraPaths.filter((p) => p !== path) } });
    }
    this.inspections.delete(path);
    await this.changed();
  }

  /** Tells windows the list changed. */
  async changed(): Promise<void> {
    this.deps.events.emit('models:update', await this.list());
  }

  private async describe(path: string, source: LocalModel['source']): Promise<LocalModel> {
    const active = this.deps.settings.current().local.modelPath === path;
    const base = { path, fileName: basename(path), source, active };
    let size = 0;
    let key = '';
    try {
      const stats = await stat(path);
      size = stats.size;
      key = `${stats.size}:${stats.mtimeMs}`;
    } catch (error) {
      return { ...base, sizeBytes: 0, inspection: null, error: { code: 'MODEL_NOT_FOUND', message: `The file is gone: ${path}`, retryable: false } };
    }
    let cached = this.inspections.get(path);
    if (cached?.key !== key) {
      const run = this.inspecting.then(() => this.deps.routing.inspect(path));
      this.inspecting = run.catch(() => {});
      try {
        cached = { key, result: await run, error: null };
      } catch (error) {
        cached = { key, result: null, error: toAppError(error) };
      }
      this.inspections.set(path, cached);
    }
    return { ...base, sizeBytes: size, inspection: cached.result, error: cached.error };
  }

  private async requireFile(path: string): Promise<void> {
    const stats = await stat(path).catch(() => null);
    if (!stats?.isFile()) throw new ServiceError('NOT_FOUND', `There is no file at ${path}.`, 'path');
  }

  private async partsOf(path: string): Promise<string[]> {
    const match = SPLIT_PART.exec(basename(path));
    if (!match) return [path];
    const total = Number(match[2]);
    const width = match[1]!.length;
    const stem = path.slice(0, path.length - match[0].length);
    return Array.from({ length: total }, (_, i) => `${stem}-${String(i + 1).padStart(width, '0')}-of-${match[2]}.gguf`);
  }
}
