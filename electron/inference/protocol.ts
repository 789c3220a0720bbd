/**
 * Messages between the local driver and the inference host process. Types only: both sides import it,
 * and only the host imports node-llama-cpp.
 */
import type { Backend, EngineInfo, ModelInspection } from '../contract/index.js';
import type { ChatMessage, DriverErrorData, SamplingOptions, StopReason, TokenLogprob, ToolCall, ToolCallDelta, ToolChoice, ToolSpec } from '../core/types.js';

export type { Backend, EngineInfo, ModelInspection };

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
  /** Requests answered at once (sequences of the context); the host picks what memory allows when absent. */
  parallel?: number;
  /** A GGUF model to make embeddings with, loaded beside the chat model; absent: the chat model makes them. */
  embeddingModelPath?: string;
  /** Where evicted sequences' states are saved; absent: they are not saved. */
  stateCacheDir?: string;
  /** Size cap of that folder, in bytes. */
  stateCacheMaxBytes?: number;
  /**
   * Skips the pre-load file checks. Only tests use it, to prove that a model which aborts llama.cpp
   * natively takes down the host process and nothing else.
   */
  unsafeSkipValidation?: boolean;
}

/** One generation's outcome as the host reports it. */
export interface HostCompletion {
  text: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens already in the KV cache from an earlier turn, so not evaluated again. */
  cachedInputTokens: number;
  /** Where those tokens came from: the sequence that held them, a state restored from disk, or nowhere. */
  cacheSource: 'sequence' | 'disk' | 'none';
  timeToFirstTokenMs: number | null;
  totalMs: number;
  stopReason: Exclude<StopReason, 'error'>;
  /** The tools the model called: generation stopped at them. */
  toolCalls?: ToolCall[];
  /** With `logprobs`: each generated token's log probability. */
  logprobs?: TokenLogprob[];
}

/** What a load reports: the engine info, and whether the model's chat template has a function-call syntax. */
export interface LoadedEngine extends EngineInfo {
  functionCalling: boolean;
}

/**
 * The sampling options as drivers get them (core/types.ts). The host builds (and caches by schema) the
 * grammar of `responseFormat`: grammar objects cannot cross processes.
 */
export interface GenerateParams extends SamplingOptions {
  messages: ChatMessage[];
  /** The conversation this request continues (see CompletionRequest.affinityKey). */
  affinityKey?: string;
  /** Functions the model may call, and how (see CompletionRequest). */
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
}

/** Embeddings of a batch of texts (`/v1/embeddings`). */
export interface EmbedParams {
  inputs: string[];
}

/** One vector per input, in order, scaled to length 1. */
export interface HostEmbeddings {
  model: string;
  vectors: number[][];
  /** Tokens of all inputs together. */
  inputTokens: number;
}

/** A legacy text completion (`/v1/completions`): the prompt continued as it is, with no chat template. */
export interface TextCompletionParams {
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Texts that end the completion; none of them is part of the answer. */
  stop?: string[];
  /** Text after the insertion point: the model fills in the middle, when it has the tokens for it. */
  suffix?: string;
}

/** Calls the driver makes; each gets exactly one reply with the same id. */
export type HostCall =
  | { kind: 'call'; id: number; method: 'load'; params: EngineOptions }
  | { kind: 'call'; id: number; method: 'complete'; params: GenerateParams }
  | { kind: 'call'; id: number; method: 'countTokens'; params: { messages: ChatMessage[] } }
  | { kind: 'call'; id: number; method: 'unload'; params: Record<string, never> }
  | { kind: 'call'; id: number; method: 'inspect'; params: { path: string; contextSize?: number; gpu?: EngineOptions['gpu'] } }
  /** Drops a conversation's cached prompt: its saved state and its tokens in memory. */
  | { kind: 'call'; id: number; method: 'forget'; params: { key: string } }
  /** Embeds texts with the embedding context (see embedder.ts). */
  | { kind: 'call'; id: number; method: 'embed'; params: EmbedParams }
  /** Continues a raw prompt on one of the context's sequences. */
  | { kind: 'call'; id: number; method: 'completeText'; params: TextCompletionParams }
  /** Answers at once: the driver's test that the host is still responsive. */
  | { kind: 'call'; id: number; method: 'ping'; params: Record<string, never> };

export type HostRequest = HostCall | { kind: 'abort'; id: number };

export interface HostResults {
  load: LoadedEngine;
  complete: HostCompletion;
  countTokens: number;
  unload: null;
  inspect: ModelInspection;
  forget: null;
  ping: null;
  embed: HostEmbeddings;
  completeText: HostCompletion;
}

export type HostMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: DriverErrorData }
  | { kind: 'delta'; id: number; text: string; /** With `logprobs`: the tokens behind this text. */ logprobs?: TokenLogprob[] }
  /** A piece of a tool call, sent after the text that came before it. */
  | { kind: 'toolCall'; id: number; delta: ToolCallDelta }
  | { kind: 'log'; level: 'warn' | 'error'; message: string };
