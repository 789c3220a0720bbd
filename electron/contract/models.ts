/** The local engine and the model manager as callers see them. Plain types only. */
import type { AppError } from './errors.js';

export type Backend = 'cuda' | 'metal' | 'vulkan' | 'cpu';

/** What the inference host reports once a model is loaded. */
export interface EngineInfo {
  modelPath: string;
  modelName: string;
  architecture: string;
  fileSizeBytes: number;
  backend: Backend;
  devices: string[];
  contextSize: number;
  trainedContextSize: number;
  threads: number;
  defaultThreads: number;
  /** Requests the engine answers at once: one KV-cache sequence each, batched together. */
  sequences: number;
  /** What the memory fit of `sequences` × the context allows when the setting is left to the app. */
  defaultSequences: number;
  gpuLayers: number;
  loadMs: number;
}

/** A GGUF file described for the model manager, with a fit estimate for this machine. */
export interface ModelInspection {
  path: string;
  name: string;
  architecture: string;
  /** Total parameter count. */
  parameters: number;
  /** e.g. Q4_K_M; null when the file does not say. */
  quantization: string | null;
  fileSizeBytes: number;
  trainedContextSize: number;
  fit: {
    /** gpu: fully offloaded; partial-gpu: some layers on the GPU; ram: CPU only; too-large: does not fit. */
    verdict: 'gpu' | 'partial-gpu' | 'ram' | 'too-large';
    contextSize: number;
    gpuLayers: number;
    ramBytes: number;
    vramBytes: number;
    backend: Backend;
  };
}

/** no-model: none configured; not-loaded: configured, loads on first use; error: the last load failed. */
export type EngineState = 'no-model' | 'not-loaded' | 'loading' | 'ready' | 'error';

/** One part of a catalog model split into several files (…-00001-of-00002.gguf). */
export interface CatalogFilePart {
  file: string;
  sizeBytes?: number;
  sha256?: string;
}

export interface CatalogSingleFile {
  quantization: string;
  /** RAM needed to run this file at a 4k context, in GB. */
  ramGB: number;
  file: string;
  sizeBytes?: number;
  sha256?: string;
}

export interface CatalogMultiPartFile {
  quantization: string;
  ramGB: number;
  parts: CatalogFilePart[];
}

export type CatalogFile = CatalogSingleFile | CatalogMultiPartFile;

/** A recommended model of the curated catalog. */
export interface CatalogEntry {
  id: string;
  name: string;
  publisher: string;
  description: string;
  /** Hugging Face "user/repo". */
  repo: string;
  license: string;
  parameters: string;
  parametersBillions: number;
  contextLength: number;
  gated: boolean;
  recommended?: boolean;
  why?: string;
  files: CatalogFile[];
  sources: string[];
}

/** A GGUF file the model manager knows: in the models folder or added from elsewhere. */
export interface LocalModel {
  path: string;
  fileName: string;
  sizeBytes: number;
  /** in-use: outside the models folder and never added, known because the local engine uses it (`--model`). */
  source: 'models-folder' | 'added' | 'in-use';
  /** The model the local engine uses. */
  active: boolean;
  /** What the file is and whether it fits; null when it could not be read (see error). */
  inspection: ModelInspection | null;
  error: AppError | null;
}

/** The local engine as the settings page and status bar show it. */
export interface EngineStatus {
  state: EngineState;
  modelPath: string | null;
  info: EngineInfo | null;
  error: AppError | null;
  queueLength: number;
  crashes: number;
}

export type DownloadState = 'queued' | 'downloading' | 'paused' | 'verifying' | 'done' | 'failed' | 'cancelled';

/** One model download as the model manager shows it. */
export interface DownloadInfo {
  id: string;
  /** What was asked for: a catalog id, `hf:…` or a URL. */
  source: string;
  label: string;
  state: DownloadState;
  bytesDone: number;
  totalBytes: number | null;
  percent: number | null;
  bytesPerSecond: number;
  etaSeconds: number | null;
  error: AppError | null;
  /** Where the finished model is. */
  modelPath: string | null;
}
