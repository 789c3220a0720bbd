/** One download's bookkeeping inside the downloader, and the plain-data snapshot callers see. */
import type { DownloadErrorData } from './download-errors.js';
import type { DownloadRequest, DownloadState, DownloadStatus } from './download-types.js';
import type { PartialRecord } from './partial-store.js';
import { SpeedMeter } from './progress.js';

/** What the downloader tracks about one download. */
export interface Entry {
  id: string;
  request: DownloadRequest;
  state: DownloadState;
  record: PartialRecord | null;
  files: string[];
  paths: string[];
  resumable: boolean;
  error: DownloadErrorData | undefined;
  controller: AbortController | null;
  stopping: 'pause' | 'cancel' | null;
  finished: Promise<DownloadStatus> | null;
  file: string | null;
  meter: SpeedMeter;
  lastEmit: number;
  lastSave: number;
  /** The size once the record is gone (done). */
  total: number | null;
}

export function createEntry(id: string, request: DownloadRequest, record: PartialRecord | null): Entry {
  return {
    id, request, state: 'queued', record, files: record?.parts.map((p) => p.name) ?? [], paths: [],
    resumable: record !== null, error: undefined, controller: null, stopping: null, finished: null,
    file: null, meter: new SpeedMeter(), lastEmit: 0, lastSave: 0, total: null,
  };
}

/** The entry as plain data, for events and callers. */
export function snapshot(entry: Entry): DownloadStatus {
  return {
    id: entry.id,
    source: entry.request.source,
    state: entry.state,
    files: [...entry.files],
    paths: [...entry.paths],
    bytesDone: bytesDone(entry),
    totalBytes: totalBytes(entry),
    resumable: entry.resumable,
    ...(entry.error ? { error: { ...entry.error } } : {}),
  };
}

/** Bytes on disk across all parts (the whole size once done). */
export function bytesDone(entry: Entry): number {
  if (entry.state === 'done') return totalBytes(entry) ?? 0;
  return entry.record?.parts.reduce((sum, p) => sum + p.done, 0) ?? 0;
}

/** The size of all parts together, or null while one is unknown. */
export function totalBytes(entry: Entry): number | null {
  const parts = entry.record?.parts;
  if (!parts) return entry.state === 'done' ? (entry.total ?? null) : null;
  return parts.some((p) => p.size === null) ? null : parts.reduce((sum, p) => sum + p.size!, 0);
}
