/**
 * Unfinished downloads on disk: `<models>/.partial/<id>/<file>.part` holds the bytes and
 * `<models>/.partial/<id>/download.json` what is needed to resume them after a quit or a crash. The JSON
 * is written atomically (write-file-atomic: temp file, rename), so it is always either the old or the new
 * record, never half of one. The bytes on disk are the truth for how far a part got; `done` in the JSON is
 * a hint for listing.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';

const partSchema = z.object({
  name: z.string().regex(/^[\w.+-]+\.gguf$/i),
  url: z.url(),
  size: z.number().int().nonnegative().nullable(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  etag: z.string().max(500).nullable(),
  done: z.number().int().nonnegative(),
  verified: z.boolean(),
});

const recordSchema = z.object({
  version: z.literal(1),
  id: z.string(),
  source: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  parts: z.array(partSchema).min(1),
});

export type PartRecord = z.infer<typeof partSchema>;
export type PartialRecord = z.infer<typeof recordSchema>;

export const PARTIAL_DIR = '.partial';
const META = 'download.json';

/** Download ids become folder names: letters, digits, `.`, `_`, `-`, not starting with a dot. */
export const ID_PATTERN = /^[A-Za-z0-9_-][\w.-]{0,99}$/;

/** A stable, folder-safe id for a source (so the same source finds its partial): a slug and a short hash. */
export function downloadId(source: string): string {
  const slug = source.trim().replace(/^hf:|^https?:\/\//i, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 60);
  return `${slug}-${createHash('sha256').update(source.trim()).digest('hex').slice(0, 8)}`;
}

export class PartialStore {
  /** Writes per id run one after another, so a late checkpoint never overwrites a newer one. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(readonly modelsDir: string) {}

  dirFor(id: string): string {
    return join(this.modelsDir, PARTIAL_DIR, id);
  }

  partPath(id: string, name: string): string {
    return join(this.dirFor(id), `${name}.part`);
  }

  /** Creates the download's folder and records it. */
  async create(record: PartialRecord): Promise<void> {
    await mkdir(this.dirFor(record.id), { recursive: true });
    await this.save(record);
  }

  /** Persists a snapshot of the record (taken now, written in order). */
  save(record: PartialRecord): Promise<void> {
    const snapshot = JSON.stringify({ ...record, updatedAt: Date.now() }, null, 2);
    const path = join(this.dirFor(record.id), META);
    return this.enqueue(record.id, async () => {
      // No fsync: the record must survive an app crash, not a power cut, and fsyncing every few seconds
      // during a multi-gigabyte write would stall it.
      await writeFileAtomic(path, snapshot, { fsync: false }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error; // removed meanwhile (cancel, done): nothing left to record
      });
    });
  }

  /** The record for `id` with each part's `done` taken from its bytes on disk, or null if there is none. */
  async load(id: string): Promise<PartialRecord | null> {
    let text: string;
    try {
      text = await readFile(join(this.dirFor(id), META), 'utf8');
    } catch {
      return null;
    }
    const parsed = recordSchema.safeParse(safeJson(text));
    if (!parsed.success || parsed.data.id !== id) return null;
    const record = parsed.data;
    for (const part of record.parts) {
      part.done = await stat(this.partPath(id, part.name)).then((s) => s.size, () => 0);
    }
    return record;
  }

  /** Every resumable download on disk; folders without a readable record are skipped. */
  async list(): Promise<PartialRecord[]> {
    const entries = await readdir(join(this.modelsDir, PARTIAL_DIR), { withFileTypes: true }).catch(() => []);
    const records: PartialRecord[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !ID_PATTERN.test(entry.name)) continue;
      const record = await this.load(entry.name);
      if (record) records.push(record);
    }
    return records;
  }

  /** Removes the download's bytes and record entirely. */
  remove(id: string): Promise<void> {
    return this.enqueue(id, async () => {
      await rm(this.dirFor(id), { recursive: true, force: true });
      await rmdir(join(this.modelsDir, PARTIAL_DIR)).catch(() => undefined); // only succeeds once it is empty
    });
  }

  private enqueue(id: string, task: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(id) ?? Promise.resolve()).then(task, task);
    const tail = next.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return next;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
