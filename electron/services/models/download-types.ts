/** The downloader's public types: requests, status snapshots, progress events and options. */
import type { Dispatcher } from 'undici';
import type { DownloadErrorData } from './download-errors.js';
import type { ExpectedFile } from './plan.js';
import type { RetryPolicy } from './transfer.js';

export type { DownloadErrorData, ExpectedFile, RetryPolicy };

export type DownloadState = 'queued' | 'downloading' | 'paused' | 'verifying' | 'done' | 'failed' | 'cancelled';

export interface DownloadRequest {
  /** `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>.gguf` or an https URL. */
  source: string;
  /** Defaults to one derived from the source, so the same source always resumes the same partial. */
  id?: string;
  /** Sizes and sha256 from the catalog, per file; they win over what the server says. */
  expected?: ExpectedFile[];
}

export interface DownloadStatus {
  id: string;
  source: string;
  state: DownloadState;
  /** File names in the models folder (known once the source is resolved). */
  files: string[];
  /** Absolute paths of the finished files (state `done`). */
  paths: string[];
  bytesDone: number;
  totalBytes: number | null;
  /** Partial data is kept on disk and `resume` continues it. */
  resumable: boolean;
  error?: DownloadErrorData;
}

export interface DownloadProgress {
  id: string;
  file: string | null;
  bytesDone: number;
  totalBytes: number | null;
  percent: number | null;
  /** Bytes per second over the last ~2 s. */
  speed: number;
  etaSeconds: number | null;
}

export type DownloadEvent = { type: 'state'; status: DownloadStatus } | { type: 'progress'; progress: DownloadProgress };

/** A started download: its id at once, and its final status (done, paused, cancelled or failed) later. */
export interface DownloadTask {
  id: string;
  finished: Promise<DownloadStatus>;
}

export interface ModelDownloaderOptions {
  /** The models folder. */
  dir: string;
  /** A Hugging Face token, sent only to the Hugging Face endpoint; a function reads the current one. */
  hfToken?: string | (() => string | null | undefined);
  /** Where `HF_ENDPOINT` and the proxy variables are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** HTTP dispatcher (tests); default: undici's EnvHttpProxyAgent when a proxy is set. */
  dispatcher?: Dispatcher;
  /** Free bytes where `dir` lives (tests); default `fs.statfs`. */
  freeSpace?: (dir: string) => Promise<number>;
  /** Kept free beyond the download itself (default 64 MiB). */
  spaceMarginBytes?: number;
  retry?: Partial<RetryPolicy>;
  headersTimeoutMs?: number;
  /** Longest silence between two chunks of a body. */
  bodyTimeoutMs?: number;
  /** Progress events at most this often (default 100 ms). */
  progressIntervalMs?: number;
  /** Downloads running at once; the rest wait `queued` (default 2). */
  maxConcurrent?: number;
  /** Compute sha256 on a worker thread (default) or between network reads; `npm run bench:download` compares. */
  hashOnWorker?: boolean;
}
