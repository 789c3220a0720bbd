/** The free-space check made before a download writes its first byte. */
import { mkdir, statfs } from 'node:fs/promises';
import { DownloadError } from './download-errors.js';
import type { PartialRecord } from './partial-store.js';
import { formatBytes } from './progress.js';

/** Kept free beyond the download: a full disk breaks more than the download. */
export const DEFAULT_SPACE_MARGIN = 64 * 1024 * 1024;

/** Free bytes for an unprivileged user on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/** Refuses, with the numbers, a download whose remaining bytes do not fit; skipped while a size is unknown. */
export async function checkSpace(
  record: PartialRecord,
  dir: string,
  freeSpace: (dir: string) => Promise<number> = freeBytes,
  margin = DEFAULT_SPACE_MARGIN,
): Promise<void> {
  if (record.parts.some((p) => p.size === null)) return;
  const needed = record.parts.reduce((sum, p) => sum + (p.verified ? 0 : Math.max(0, p.size! - p.done)), 0);
  if (needed === 0) return;
  await mkdir(dir, { recursive: true });
  const free = await freeSpace(dir);
  if (free >= needed + margin) return;
  const name = record.parts.length === 1 ? record.parts[0]!.name : `${record.parts[0]!.name} (${record.parts.length} parts)`;
  throw new DownloadError(
    'no_space',
    `Not enough disk space for ${name}: it needs ${formatBytes(needed)} (plus ${formatBytes(margin)} to spare) but only ${formatBytes(free)} is free in ${dir}.`,
  );
}
