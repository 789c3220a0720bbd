/**
 * Sequence states on disk: the prompt cache that survives eviction. When a conversation's sequence is
 * given to another request, its KV state is saved (node-llama-cpp's `saveStateToFile`) under a name derived
 * from the conversation's key; coming back to the conversation loads it instead of evaluating the whole
 * history again. The folder has a size cap (least recently used states go first), belongs to one model
 * (a state loaded into another model can crash llama.cpp, so a different fingerprint empties it), and a
 * state is dropped when its conversation is deleted.
 *
 * `index.json` records the fingerprint and, per state, its token count and last use; it is written
 * atomically (write-file-atomic) so a crash never leaves it half-written. Only the host writes here.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Default size cap of the folder. */
export const DEFAULT_STATE_CACHE_BYTES = 2 * 1024 * 1024 * 1024;
const INDEX = 'index.json';

/** The file a key's state lives in; the driver uses it to drop a state while no host runs. */
export function stateFileName(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.state`;
}

interface Entry {
  file: string;
  tokens: number;
  bytes: number;
  usedAt: number;
}

interface IndexFile {
  fingerprint: string;
  entries: Record<string, Entry>;
}

/** What the cache needs from a sequence (node-llama-cpp's LlamaContextSequence). */
export interface SavableSequence {
  readonly contextTokens: readonly unknown[];
  saveStateToFile(path: string): Promise<{ fileSize: number }>;
  loadStateFromFile(path: string, risk: { acceptRisk: true }): Promise<void>;
}

export class StateCache {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly index: IndexFile,
  ) {}

  /** Opens the folder for the model with `fingerprint`; states of any other model are deleted. */
  static async open(dir: string, maxBytes: number, fingerprint: string): Promise<StateCache> {
    await mkdir(dir, { recursive: true });
    let index: IndexFile = { fingerprint, entries: {} };
    try {
      const stored = JSON.parse(await readFile(join(dir, INDEX), 'utf8')) as IndexFile;
      if (stored.fingerprint === fingerprint && typeof stored.entries === 'object' && stored.entries !== null) index = stored;
    } catch {
      // No index, or an unreadable one: start empty.
    }
    const cache = new StateCache(dir, maxBytes, index);
    const kept = new Set(Object.values(index.entries).map((e) => e.file));
    for (const name of await readdir(dir)) {
      if (name !== INDEX && !kept.has(name)) await unlink(join(dir, name)).catch(() => {});
    }
    for (const [key, entry] of Object.entries(index.entries)) {
      if (!(await stat(join(dir, entry.file)).catch(() => null))) delete index.entries[key];
    }
    await cache.persist();
    return cache;
  }

  /** Tokens of the state saved for `key`, or 0 when there is none. */
  tokens(key: string): number {
    return this.index.entries[key]?.tokens ?? 0;
  }

  /** Total bytes of the saved states. */
  bytes(): number {
    return Object.values(this.index.entries).reduce((sum, e) => sum + e.bytes, 0);
  }

  /** Saves `sequence`'s state as `key`'s, replacing an older one; least recently used states go to keep the cap. */
  async save(key: string, sequence: SavableSequence): Promise<boolean> {
    const file = stateFileName(key);
    const temp = join(this.dir, `${file}.tmp`);
    const tokens = sequence.contextTokens.length;
    let bytes: number;
    try {
      ({ fileSize: bytes } = await sequence.saveStateToFile(temp));
      if (bytes > this.maxBytes) {
        await unlink(temp).catch(() => {});
        return false;
      }
      await rename(temp, join(this.dir, file));
    } catch {
      await unlink(temp).catch(() => {});
      return false;
    }
    this.index.entries[key] = { file, tokens, bytes, usedAt: Date.now() };
    await this.trim(key);
    await this.persist();
    return true;
  }

  /** Loads `key`'s state into `sequence`; false (and the state dropped) when there is none or it cannot be read. */
  async restore(key: string, sequence: SavableSequence): Promise<boolean> {
    const entry = this.index.entries[key];
    if (!entry) return false;
    try {
      await sequence.loadStateFromFile(join(this.dir, entry.file), { acceptRisk: true });
    } catch {
      await this.drop(key);
      return false;
    }
    entry.usedAt = Date.now();
    await this.persist();
    return true;
  }

  /** Deletes `key`'s state. */
  async drop(key: string): Promise<void> {
    const entry = this.index.entries[key];
    await unlink(join(this.dir, entry?.file ?? stateFileName(key))).catch(() => {});
    if (!entry) return;
    delete this.index.entries[key];
    await this.persist();
  }

  private async trim(keep: string): Promise<void> {
    const byAge = Object.entries(this.index.entries).filter(([key]) => key !== keep).sort(([, a], [, b]) => a.usedAt - b.usedAt);
    while (this.bytes() > this.maxBytes && byAge.length > 0) {
      const [key, entry] = byAge.shift()!;
      await unlink(join(this.dir, entry.file)).catch(() => {});
      delete this.index.entries[key];
    }
  }

  private persist(): Promise<void> {
    const write = this.writing.then(() => writeFileAtomic(join(this.dir, INDEX), JSON.stringify(this.index)));
    this.writing = write.catch(() => {});
    return write;
  }
}
