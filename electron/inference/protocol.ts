/**
 * Messages between the local driver and the inference host process. Types only: both sides import it,
 * and only the host imports node-llama-cpp.
 */
import type { ChatMessage, DriverErrorData, StopReason } from '../core/types.js';

/** How the host should load and run a model. */
export interface EngineOptions {
  modelPath: string;
  /** Requested context size; clamped to the trained context and to what memory allows. */
  contextSize?: number;
  /** CPU threads for generation; the host picks a measured default when absent. */
  threads?: number;
  /** Layers to offload to the GPU; 'auto' lets node-llama-cpp fit as many as memory allows. */
  gpuLayers?: number | 'auto';
  /** GPU backend; 'auto' picks the best available, false forces the CPU. */
  gpu?: 'auto' | false | 'cuda' | 'vulkan' | 'metal';
  /**
   * Skips the pre-load file checks. Only tests use it, to prove that a model which aborts llama.cpp
   * natively takes down the host process and nothing else.
   */
  unsafeSkipValidation?: boolean;
}

export type Backend = 'cuda' | 'metal' | 'vulkan' | 'cpu';

/** What the host reports once a model is loaded. */
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
  gpuLayers: number;
  loadMs: number;
}

/** One generation's outcome as the host reports it. */
export interface HostCompletion {
  text: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens already in the KV cache from an earlier turn, so not evaluated again. */
  cachedInputTokens: number;
  timeToFirstTokenMs: number | null;
  totalMs: number;
  stopReason: Exclude<StopReason, 'error'>;
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

export interface GenerateParams {
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

/** Calls the driver makes; each gets exactly one reply with the same id. */
export type HostCall =
  | { kind: 'call'; id: number; method: 'load'; params: EngineOptions }
  | { kind: 'call'; id: number; method: 'complete'; params: GenerateParams }
  | { kind: 'call'; id: number; method: 'countTokens'; params: { messages: ChatMessage[] } }
  | { kind: 'call'; id: number; method: 'unload'; params: Record<string, never> }
  | { kind: 'call'; id: number; method: 'inspect'; params: { path: string; contextSize?: number; gpu?: EngineOptions['gpu'] } };

export type HostRequest = HostCall | { kind: 'abort'; id: number };

export interface HostResults {
  load: EngineInfo;
  complete: HostCompletion;
  countTokens: number;
  unload: null;
  inspect: ModelInspection;
}

export type HostMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: DriverErrorData }
  | { kind: 'delta'; id: number; text: string }
  | { kind: 'log'; level: 'warn' | 'error'; message: string };
