/**
 * The local inference engine: loads one GGUF model with node-llama-cpp and runs chat completions on it.
 * It lives in the inference host process so a native crash never takes the app down.
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import {
  getLlama,
  LlamaChat,
  LlamaLogLevel,
  type ChatHistoryItem,
  type Llama,
  type LlamaContext,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { DriverError, isAbortError } from '../core/errors.js';
import { messageText, type ChatMessage } from '../core/types.js';
import { validateGguf } from './gguf-validate.js';
import type { Backend, EngineInfo, EngineOptions, GenerateParams, HostCompletion } from './protocol.js';
import { defaultThreadCount } from './threads.js';

/** Default context cap: enough for long chats without reserving gigabytes of KV cache up front. */
export const DEFAULT_CONTEXT_CAP = 8192;

let llamaPromise: Promise<Llama> | null = null;
let llamaGpuSetting: EngineOptions['gpu'] | null = null;

/** The process-wide llama.cpp binding (one per GPU setting). */
export async function loadLlama(gpu: EngineOptions['gpu']): Promise<Llama> {
  if (!llamaPromise || llamaGpuSetting !== gpu) {
    llamaGpuSetting = gpu;
    llamaPromise = getLlama({ gpu: gpu ?? 'auto', build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  }
  return llamaPromise;
}

function toHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message): ChatHistoryItem => {
    switch (message.role) {
      case 'system': return { type: 'system', text: messageText(message) };
      case 'user': return { type: 'user', text: messageText(message) };
      case 'assistant': return { type: 'model', response: [messageText(message)] };
      default: return message.role satisfies never;
    }
  });
  history.push({ type: 'model', response: [] });
  return history;
}

export class Engine {
  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly chat: LlamaChat,
    readonly info: EngineInfo,
    /** The GPU setting the model was loaded with, so inspections use the same backend. */
    readonly gpuSetting: EngineOptions['gpu'],
  ) {}

  /** Validates the file, loads the model and creates its context. */
  static async load(options: EngineOptions): Promise<Engine> {
    const started = performance.now();
    const llama = await loadLlama(options.gpu);
    const checked = options.unsafeSkipValidation ? null : await validateGguf(options.modelPath, llama);
    let model: LlamaModel;
    try {
      model = await llama.loadModel({
        modelPath: options.modelPath,
        gpuLayers: options.gpuLayers ?? 'auto',
      });
    } catch (error) {
      throw new DriverError('inference_failed', `llama.cpp could not load the model: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const trained = model.trainContextSize;
    const cap = Math.max(1, Math.min(options.contextSize ?? Math.min(trained, DEFAULT_CONTEXT_CAP), trained));
    const fileSizeBytes = checked?.fileSizeBytes ?? model.size;
    const defaultThreads = defaultThreadCount({
      modelBytes: fileSizeBytes,
      mathCores: llama.cpuMathCores,
      logicalCores: availableParallelism(),
      fullyOffloaded: llama.gpu !== false && model.gpuLayers >= model.fileInsights.totalLayers,
    });
    const threads = options.threads ?? defaultThreads;
    let context: LlamaContext;
    try {
      context = await model.createContext({ contextSize: { min: Math.min(256, cap), max: cap }, threads, sequences: 1 });
    } catch (error) {
      await model.dispose();
      throw new DriverError('inference_failed', `Not enough memory for the model's context: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const chat = new LlamaChat({ contextSequence: context.getSequence() });
    const gpu = llama.gpu;
    const backend: Backend = gpu === false ? 'cpu' : gpu;
    const info: EngineInfo = {
      modelPath: options.modelPath,
      modelName: (model.fileInfo.metadata.general?.name as string | undefined) || basename(options.modelPath).replace(/\.gguf$/i, ''),
      architecture: checked?.architecture ?? String(model.fileInfo.metadata.general?.architecture ?? 'unknown'),
      fileSizeBytes,
      backend,
      devices: gpu === false ? [] : await llama.getGpuDeviceNames(),
      contextSize: context.contextSize,
      trainedContextSize: trained,
      threads: context.currentThreads,
      defaultThreads,
      gpuLayers: model.gpuLayers,
      loadMs: performance.now() - started,
    };
    return new Engine(llama, model, context, chat, info, options.gpu ?? 'auto');
  }

  /** Counts the prompt's tokens exactly as generation will see them (chat template included). */
  countTokens(messages: ChatMessage[]): number {
    return this.promptTokens(messages).length;
  }

  /**
   * The router counts a prompt and then generates it, so the same conversation arrives twice in a row;
   * the last tokenisation is kept to tokenise it once.
   */
  private promptTokens(messages: ChatMessage[]): Token[] {
    const key = JSON.stringify(messages);
    if (this.lastPrompt?.key === key) return this.lastPrompt.tokens;
    const { contextText } = this.chat.chatWrapper.generateContextState({ chatHistory: toHistory(messages) });
    const tokens = contextText.tokenize(this.model.tokenizer);
    this.lastPrompt = { key, tokens };
    return tokens;
  }

  private lastPrompt: { key: string; tokens: Token[] } | null = null;

  /**
   * Runs one completion. Refuses a prompt that does not fit instead of letting node-llama-cpp shift the
   * context, which would silently drop the start of the conversation or even the latest message.
   */
  async complete(params: GenerateParams, signal: AbortSignal, onText: (text: string) => void): Promise<HostCompletion> {
    const started = performance.now();
    const history = toHistory(params.messages);
    const prompt = this.promptTokens(params.messages);
    const inputTokens = prompt.length;
    const window = this.context.contextSize;
    const room = window - inputTokens;
    if (room < 1 || (params.maxTokens !== undefined && params.maxTokens > room)) {
      throw new DriverError(
        'context_overflow',
        `The conversation needs ${inputTokens} tokens${params.maxTokens ? ` plus ${params.maxTokens} for the answer` : ''}, more than the local model's context of ${window} tokens.`,
      );
    }
    // node-llama-cpp keeps the sequence's tokens and evaluates only what differs from them, so the common
    // prefix with the last turn is what the KV cache saves.
    const cachedInputTokens = commonPrefixLength(this.chat.sequence.contextTokens, prompt);
    let text = '';
    let outputTokens = 0;
    let firstTokenAt: number | null = null;
    let stopReason: HostCompletion['stopReason'] = 'stop';
    try {
      const result = await this.chat.generateResponse(history, {
        signal,
        stopOnAbortSignal: true,
        maxTokens: params.maxTokens ?? room,
        temperature: params.temperature ?? 0,
        ...(params.seed === undefined ? {} : { seed: params.seed }),
        onToken: (tokens) => {
          outputTokens += tokens.length;
        },
        onTextChunk: (chunk) => {
          if (chunk === '') return;
          firstTokenAt ??= performance.now();
          text += chunk;
          onText(chunk);
        },
      });
      text = result.response;
      switch (result.metadata.stopReason) {
        case 'maxTokens': stopReason = 'length'; break;
        case 'abort': stopReason = 'aborted'; break;
        default: stopReason = 'stop';
      }
    } catch (error) {
      if (!(signal.aborted || isAbortError(error))) {
        throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      stopReason = 'aborted';
    }
    if (signal.aborted) stopReason = 'aborted';
    return {
      text,
      model: this.info.modelName,
      inputTokens,
      outputTokens,
      cachedInputTokens,
      timeToFirstTokenMs: firstTokenAt === null ? null : firstTokenAt - started,
      totalMs: performance.now() - started,
      stopReason,
    };
  }

  /** Frees the context and the model's memory. */
  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
