/**
 * Settings on disk: one JSON file in the user data directory, written atomically (write-file-atomic:
 * temp file, fsync, rename) so a crash mid-write never leaves half a file. Updates apply in call order
 * to the in-memory copy and are written one after another, so concurrent updates never lose each other.
 */
import { readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { Settings, SettingsPatch } from '../contract/index.js';
import { DEFAULT_FIRST_TOKEN_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from '../core/timeouts.js';
import { parseSettings } from './schemas.js';

export const DEFAULT_SETTINGS: Settings = {
  routing: {
    strategy: 'primary-with-fallback',
    privacyLock: null,
    firstTokenTimeoutMs: DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    circuitThreshold: 3,
    circuitCooldownMs: 30_000,
  },
  local: { modelPath: null, threads: null, gpuLayers: 'auto', contextSize: null },
  cloud: { preset: 'custom', baseURL: null, model: '', contextWindow: 128_000, privacyTier: null },
  generation: { systemPrompt: '', temperature: 0.7, maxTokens: null },
  server: { enabled: false, port: 8766 },
  models: { dir: null, extraPaths: [] },
};

/** Merges a patch section by section; untouched sections keep their values. */
export function mergeSettings(base: Settings, patch: SettingsPatch): Settings {
  const merged = structuredClone(base) as unknown as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(patch)) {
    if (values === undefined) continue;
    merged[section] = { ...(merged[section] ?? {}), ...values };
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
   * Opens the file. A file that cannot be read as settings is moved aside (never deleted: the user may
   * want it back) and defaults are restored; `onCorrupt` receives a message for the user.
   */
  static async open(path: string, onCorrupt: (message: string) => void = () => {}): Promise<SettingsStore> {
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text === null) return new SettingsStore(path, structuredClone(DEFAULT_SETTINGS));
    try {
      const stored = JSON.parse(text) as SettingsPatch;
      return new SettingsStore(path, parseSettings(mergeSettings(DEFAULT_SETTINGS, stored), 'settings'));
    } catch (error) {
      const aside = join(dirname(path), `${basename(path, '.json')}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      await rename(path, aside);
      const store = new SettingsStore(path, structuredClone(DEFAULT_SETTINGS));
      await store.persist();
      const reason = error instanceof SyntaxError ? 'it is not valid JSON' : error instanceof Error ? error.message : String(error);
      onCorrupt(`Your settings file could not be read (${reason}). It was kept as ${aside} and default settings were restored.`);
      return store;
    }
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
    const write = this.writing.then(() => writeFileAtomic(this.path, `${JSON.stringify(this.current, null, 2)}\n`, { fsync: true }));
    this.writing = write.catch(() => {});
    return write;
  }
}
