/**
 * Settings on disk: one JSON file in the user data directory, written atomically (write-file-atomic:
 * temp file, fsync, rename) so a crash mid-write never leaves half a file. Updates apply in call order
 * to the in-memory copy and are written one after another, so concurrent updates never lose each other.
 * A file of the first build's shape is migrated on open, and the original kept beside it.
 */
import { copyFile, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { Settings, SettingsPatch } from '../contract/index.js';
import { DEFAULT_CLOUD_TIMEOUT_MS, DEFAULT_FIRST_TOKEN_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LOAD_TIMEOUT_MS } from '../core/deadlines.js';
import { parseSettings } from './schemas.js';
import { isV1, migrateV1, SETTINGS_VERSION } from './settings-migration.js';

export const DEFAULT_SETTINGS: Settings = {
  routing: {
    strategy: 'local-first',
    ceiling: 'standard',
    askBeforeSending: false,
    loadTimeoutMs: DEFAULT_LOAD_TIMEOUT_MS,
    firstTokenTimeoutMs: DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    cloudTimeoutMs: DEFAULT_CLOUD_TIMEOUT_MS,
    circuitThreshold: 3,
    circuitCooldownMs: 30_000,
  },
  local: { modelPath: null, threads: null, gpuLayers: 'auto', contextSize: null, parallel: null },
  endpoints: [],
  generation: { systemPrompt: '', temperature: 0.7, maxTokens: null },
  server: { enabled: false, port: 8766 },
  models: { dir: null, extraPaths: [] },
};

/** Merges a patch section by section; untouched sections keep their values, a given list replaces the old. */
export function mergeSettings(base: Settings, patch: SettingsPatch): Settings {
  const merged = structuredClone(base) as unknown as Record<string, unknown>;
  for (const [section, values] of Object.entries(patch)) {
    if (values === undefined) continue;
    merged[section] = Array.isArray(values) ? structuredClone(values) : { ...((merged[section] as object | undefined) ?? {}), ...values };
  }
  return merged as unknown as Settings;
}

export class SettingsStore {
  private current: Settings;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    initial: Settings,
  ) {
    this.current = initial;
  }

  /**
   * Opens the file. A file of the first build's shape is migrated (the original is kept as
   * `settings.v1.json`). A file that cannot be read as settings is moved aside (never deleted: the user may
   * want it back) and defaults are restored. `notify` receives messages for the user.
   */
  static async open(path: string, notify: (message: string) => void = () => {}): Promise<SettingsStore> {
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text === null) return new SettingsStore(path, structuredClone(DEFAULT_SETTINGS));
    try {
      const stored = JSON.parse(text) as Record<string, unknown>;
      if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) throw new Error('it is not a JSON object');
      if (isV1(stored)) return await SettingsStore.migrate(path, stored, notify);
      const { version: _version, ...sections } = stored;
      return new SettingsStore(path, parseSettings(mergeSettings(DEFAULT_SETTINGS, sections as SettingsPatch), 'settings'));
    } catch (error) {
      const aside = join(dirname(path), `${basename(path, '.json')}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      await rename(path, aside);
      const store = new SettingsStore(path, structuredClone(DEFAULT_SETTINGS));
      await store.persist();
      const reason = error instanceof SyntaxError ? 'it is not valid JSON' : error instanceof Error ? error.message : String(error);
      notify(`Your settings file could not be read (${reason}). It was kept as ${aside} and default settings were restored.`);
      return store;
    }
  }

  private static async migrate(path: string, stored: Record<string, unknown>, notify: (message: string) => void): Promise<SettingsStore> {
    const { value, notes } = migrateV1(stored);
    const { version: _version, ...sections } = value;
    const settings = parseSettings(mergeSettings(DEFAULT_SETTINGS, sections as SettingsPatch), 'settings');
    // The original stays beside the new file, so nothing is lost even if the migration missed something.
    await copyFile(path, join(dirname(path), `${basename(path, '.json')}.v1.json`));
    const store = new SettingsStore(path, settings);
    await store.persist();
    for (const note of notes) notify(note);
    return store;
  }

  /** A copy of the current settings. */
  get(): Settings {
    return structuredClone(this.current);
  }

  /** Validates the merged result first: an invalid patch changes nothing, in memory or on disk. */
  async update(patch: SettingsPatch): Promise<Settings> {
    const next = parseSettings(mergeSettings(this.current, patch));
    this.current = next;
    await this.persist();
    return structuredClone(next);
  }

  /** Resolves once every write issued so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private persist(): Promise<void> {
    // Each write takes the state at its turn, so the last write always carries every earlier update.
    const write = this.writing.then(() =>
      writeFileAtomic(this.path, `${JSON.stringify({ version: SETTINGS_VERSION, ...this.current }, null, 2)}\n`, { fsync: true }),
    );
    this.writing = write.catch(() => {});
    return write;
  }
}
