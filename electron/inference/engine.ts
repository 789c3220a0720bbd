/**
 * The local inference engine: loads one GGUF model with node-llama-cpp and answers chat completions on
 * it, several at once: one context holds N sequences and node-llama-cpp batches their decoding. It lives
 * in the inference host process so a native crash never takes the app down.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import {
  getLlama,
  LlamaChat,
  LlamaLogLevel,
  type ChatHistoryItem,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { DriverError, isAbortError } from '../core/errors.js';
import { messageText, type ChatMessage, type TokenLogprob } from '../core/types.js';
import { ContextGate } from './context-gate.js';
import { validateGguf } from './gguf-validate.js';
import { forcedCallWrapper, functionSetup, supportsFunctionCalling, supportsParallelCalls, toChatHistory, ToolCallCollector, type FunctionSetup } from './function-calling.js';
import { generateWithLogprobs } from './logprob-generation.js';
import { defaultSequences, freeMemory } from './parallel-fit.js';
import { GrammarCache, penalties, samplerOptions } from './sampling.js';
import { checkPromptBytes, CHUNKED_COUNT_FROM_BYTES, countInChunks, longestTokenBytes, overflow, type PromptLimits } from './prompt-bound.js';
import type { Backend, EmbedParams, EngineInfo, EngineOptions, GenerateParams, HostCompletion, HostEmbeddings, LoadedEngine, TextCompletionParams } from './protocol.js';
import type { ToolCallDelta } from '../core/types.js';
import { Embedder } from './embedder.js';
import { commonPrefixLength, SlotPool, type Slot } from './slots.js';
import { DEFAULT_STATE_CACHE_BYTES, StateCache } from './state-cache.js';
import { canFillIn, generateText, promptTokens } from './text-completion.js';
import { defaultThreadCount } from './threads.js';

/** Default context cap: enough for long chats without reserving gigabytes of KV cache up front. */
export const DEFAULT_CONTEXT_CAP = 8192;
/** How long a counted prompt's tokens wait for the request that generates it. */
const COUNTED_PROMPT_TTL_MS = 30_000;

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
  return toChatHistory(messages);
}

type EngineSlot = Slot<LlamaContextSequence, LlamaChat>;

export class Engine {
  /**
   * The router counts a prompt and then generates it, so the same conversation arrives twice in a row;
   * its tokens wait here for the generation, which takes them. Entries expire, so no token array outlives
   * its request for long, and the cheap bounds keep each one within about a context's worth.
   */
  private readonly counted = new Map<string, { tokens: Token[]; timer: ReturnType<typeof setTimeout> }>();
  /** Grammars for response_format, compiled once per schema. */
  private grammarCache: GrammarCache | null = null;
  /** The embedding context, created on the first embeddings request (see embedder.ts). */
  private embedder: Promise<Embedder> | null = null;
  /** A GGUF model chosen for embeddings; absent: the chat model makes them. */
  private embeddingModelPath: string | undefined;

  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly pool: SlotPool<LlamaContextSequence, LlamaChat>,
    private readonly limits: PromptLimits,
    readonly info: LoadedEngine,
    /** The GPU setting the model was loaded with, so inspections use the same backend. */
    readonly gpuSetting: EngineOptions['gpu'],
  ) {}

  /** Validates the file, loads the model and creates its context with one sequence per parallel request. */
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
    const fitted = await defaultSequences({ insights: model.fileInsights, contextSize: cap, gpuLayers: model.gpuLayers, ...(await freeMemory(llama)) });
    const sequences = options.parallel ?? fitted;
    let context: LlamaContext;
    try {
      context = await model.createContext({ contextSize: { min: Math.min(256, cap), max: cap }, threads, sequences });
    } catch (error) {
      await model.dispose();
      throw new DriverError('inference_failed', `Not enough memory for ${sequences} sequence${sequences === 1 ? '' : 's'} of the model's context: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    let cache: StateCache | null = null;
    if (options.stateCacheDir) {
      const file = await stat(options.modelPath);
      const fingerprint = JSON.stringify({ model: options.modelPath, size: file.size, mtime: file.mtimeMs, contextSize: context.contextSize });
      cache = await StateCache.open(options.stateCacheDir, options.stateCacheMaxBytes ?? DEFAULT_STATE_CACHE_BYTES, fingerprint);
    }
    const slots: EngineSlot[] = [];
    // A request's erase or restore must not wait for the other sequences' answers to end (context-gate.ts).
    const gate = new ContextGate();
    for (let index = 0; index < sequences; index++) {
      const sequence = gate.wrap(context.getSequence());
      slots.push({ index, sequence, chat: new LlamaChat({ contextSequence: sequence }), key: null, lastUsed: 0, busy: false, forgetOnRelease: false });
    }
    const gpu = llama.gpu;
    const backend: Backend = gpu === false ? 'cpu' : gpu;
    const info: LoadedEngine = {
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
      sequences,
      defaultSequences: fitted,
      gpuLayers: model.gpuLayers,
      loadMs: performance.now() - started,
      functionCalling: supportsFunctionCalling(slots[0]!.chat.chatWrapper),
    };
    const limits: PromptLimits = { window: context.contextSize, longestTokenBytes: longestTokenBytes(model.fileInfo.metadata.tokenizer?.ggml?.tokens) };
    const engine = new Engine(model, context, new SlotPool(slots, cache), limits, info, options.gpu ?? 'auto');
    engine.embeddingModelPath = options.embeddingModelPath;
    return engine;
  }

  /** Counts the prompt's tokens exactly as generation will see them (chat template included). */
  async countTokens(messages: ChatMessage[], signal?: AbortSignal): Promise<number> {
    const bytes = this.checkBytes(messages);
    const tokens = await this.tokenize(messages, bytes, signal);
    // A prompt that does not fit is refused by the caller; its tokens are not worth keeping.
    if (tokens.length < this.limits.window) this.remember(promptKey(messages), tokens);
    return tokens.length;
  }

  /** Step 1 of the cheap bounds (see prompt-bound.ts): the prompt's bytes against the context; returns them. */
  private checkBytes(messages: ChatMessage[]): number {
    const bytes = messages.reduce((sum, message) => sum + Buffer.byteLength(messageText(message), 'utf8'), 0);
    checkPromptBytes(bytes, this.limits);
    return bytes;
  }

  /** The prompt's tokens; a large prompt is first counted in chunks that let other requests generate. */
  private async tokenize(messages: ChatMessage[], bytes: number, signal?: AbortSignal, functions?: FunctionSetup | null): Promise<Token[]> {
    if (bytes > CHUNKED_COUNT_FROM_BYTES) {
      await countInChunks(messages.map(messageText), this.limits.window, (text) => this.model.tokenize(text, false).length, signal);
    }
    // With functions the prompt also documents them, as generation will write it.
    const { contextText } = this.slotChat().chatWrapper.generateContextState({
      chatHistory: toHistory(messages),
      ...(functions ? { availableFunctions: functions.functions } : {}),
    });
    return contextText.tokenize(this.model.tokenizer);
  }

  private remember(key: string, tokens: Token[]): void {
    this.takeCounted(key);
    const timer = setTimeout(() => this.counted.delete(key), COUNTED_PROMPT_TTL_MS);
    timer.unref();
    this.counted.set(key, { tokens, timer });
  }

  private takeCounted(key: string): Token[] | null {
    const entry = this.counted.get(key);
    if (!entry) return null;
    clearTimeout(entry.timer);
    this.counted.delete(key);
    return entry.tokens;
  }

  private slotChat(): LlamaChat {
    return this.pool.slots[0]!.chat;
  }

  /**
   * Runs one completion on a free sequence. Refuses a prompt that does not fit instead of letting
   * node-llama-cpp shift the context, which would silently drop the start of the conversation or even the
   * latest message.
   */
  async complete(
    params: GenerateParams,
    signal: AbortSignal,
    onText: (text: string, logprobs?: TokenLogprob[]) => void,
    onToolCall: (delta: ToolCallDelta) => void = () => {},
  ): Promise<HostCompletion> {
    const started = performance.now();
    const history = toHistory(params.messages);
    const bytes = this.checkBytes(params.messages);
    const functions = this.info.functionCalling ? functionSetup(params.tools, params.toolChoice, params.parallelToolCalls) : null;
    // node-llama-cpp decodes function calls under its own grammar, and the log-probability loop has no function calling.
    if (functions && params.responseFormat) {
      throw new DriverError('invalid_request', 'response_format cannot be combined with tools on the local model: its function calls use a grammar of their own. Send tool_choice "none", or leave out response_format.');
    }
    if (functions && params.logprobs !== undefined) {
      throw new DriverError('invalid_request', 'logprobs cannot be combined with tools on the local model. Send tool_choice "none", or leave out logprobs.');
    }
    const counted = this.takeCounted(promptKey(params.messages));
    const prompt = (functions ? null : counted) ?? (await this.tokenize(params.messages, bytes, signal, functions));
    const inputTokens = prompt.length;
    const window = this.context.contextSize;
    const room = window - inputTokens;
    if (room < 1 || (params.maxTokens !== undefined && params.maxTokens > room)) {
      throw overflow(
        `The conversation needs ${inputTokens} tokens${params.maxTokens ? ` plus ${params.maxTokens} for the answer` : ''}, more than the local model's context of ${window} tokens.`,
      );
    }
    const { slot, source } = await this.pool.acquire(params.affinityKey, prompt);
    try {
      // node-llama-cpp keeps the sequence's tokens and evaluates only what differs from them.
      const cachedInputTokens = commonPrefixLength(slot.sequence.contextTokens, prompt);
      const promptInfo = { room, started, inputTokens, cachedInputTokens, cacheSource: cachedInputTokens > 0 ? source : 'none' } as const;
      if (params.logprobs !== undefined) return await this.generateWithLogprobs(slot, history, prompt, params, promptInfo, signal, onText);
      return await this.generate(slot, history, params, promptInfo, signal, onText, functions, onToolCall);
    } finally {
      await this.pool.release(slot);
    }
  }

  private async generate(
    slot: EngineSlot,
    history: ChatHistoryItem[],
    params: GenerateParams,
    prompt: { room: number; started: number; inputTokens: number; cachedInputTokens: number; cacheSource: HostCompletion['cacheSource'] },
    signal: AbortSignal,
    onText: (text: string) => void,
    functions: FunctionSetup | null = null,
    onToolCall: (delta: ToolCallDelta) => void = () => {},
  ): Promise<HostCompletion> {
    let text = '';
    let outputTokens = 0;
    let firstTokenAt: number | null = null;
    let stopReason: HostCompletion['stopReason'] = 'stop';
    const collector = new ToolCallCollector(onToolCall);
    let callsDone = 0;
    // onToken misses the tokens of function calls; the sequence's meter counts every sampled token.
    const meter = slot.sequence.tokenMeter.getState();
    // A forced call needs the wrapper that starts the response inside a call: a short-lived chat on the same sequence.
    const chat = functions?.forced ? new LlamaChat({ contextSequence: slot.sequence, chatWrapper: forcedCallWrapper(slot.chat.chatWrapper) }) : slot.chat;
    const sampler = samplerOptions(params, this.model, this.vocabularySize());
    const penalty = penalties(params);
    const grammar = params.responseFormat ? await this.grammars().get(params.responseFormat) : undefined;
    try {
      const result = await chat.generateResponse(history, {
        ...(functions
          ? {
              functions: functions.functions,
              // Without parallel calls in the template node-llama-cpp stops after one call anyway.
              ...(functions.maxParallelFunctionCalls !== undefined && supportsParallelCalls(chat.chatWrapper) ? { maxParallelFunctionCalls: functions.maxParallelFunctionCalls } : {}),
              onFunctionCallParamsChunk: (chunk) => collector.onParamsChunk(chunk.callIndex, chunk.functionName, chunk.paramsChunk),
              onFunctionCall: (call) => collector.onCall(callsDone++, call.functionName),
            }
          : grammar
            ? { grammar }
            : {}),
        signal,
        stopOnAbortSignal: true,
        maxTokens: params.maxTokens ?? prompt.room,
        ...sampler,
        ...(penalty ? { repeatPenalty: penalty } : {}),
        ...(params.stop?.length ? { customStopTriggers: params.stop } : {}),
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
      if (chat !== slot.chat) chat.dispose({ disposeSequence: false });
      if (!(signal.aborted || isAbortError(error))) {
        throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      stopReason = 'aborted';
    }
    if (chat !== slot.chat && !chat.disposed) chat.dispose({ disposeSequence: false });
    if (signal.aborted) stopReason = 'aborted';
    // Cut off by max tokens, the calls streamed so far stay in the answer, as its finish reason says.
    const toolCalls = stopReason === 'stop' || stopReason === 'length' ? collector.result() : [];
    if (functions) outputTokens = Math.max(outputTokens, slot.sequence.tokenMeter.diff(meter).usedOutputTokens);
    return {
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
      text,
      model: this.info.modelName,
      inputTokens: prompt.inputTokens,
      outputTokens,
      cachedInputTokens: prompt.cachedInputTokens,
      cacheSource: prompt.cacheSource,
      timeToFirstTokenMs: firstTokenAt === null ? null : firstTokenAt - prompt.started,
      totalMs: performance.now() - prompt.started,
      stopReason,
    };
  }

  /** Like generate, on the sequence directly, reporting each token's log probability (see logprob-generation.ts). */
  private async generateWithLogprobs(
    slot: EngineSlot,
    history: ChatHistoryItem[],
    tokens: Token[],
    params: GenerateParams,
    prompt: { room: number; started: number; inputTokens: number; cachedInputTokens: number; cacheSource: HostCompletion['cacheSource'] },
    signal: AbortSignal,
    onText: (text: string, logprobs?: TokenLogprob[]) => void,
  ): Promise<HostCompletion> {
    let firstTokenAt: number | null = null;
    const sampler = samplerOptions(params, this.model, this.vocabularySize());
    const grammar = params.responseFormat ? await this.grammars().get(params.responseFormat) : null;
    const { stopGenerationTriggers } = slot.chat.chatWrapper.generateContextState({ chatHistory: history });
    let result;
    try {
      result = await generateWithLogprobs({
        model: this.model,
        sequence: slot.sequence,
        prompt: tokens,
        templateStops: stopGenerationTriggers,
        stop: params.stop ?? [],
        sampler,
        penalties: penalties(params),
        grammar,
        maxTokens: params.maxTokens ?? prompt.room,
        topLogprobs: params.logprobs ?? 0,
        signal,
        onText: (text, logprobs) => {
          firstTokenAt ??= performance.now();
          onText(text, logprobs);
        },
      });
    } catch (error) {
      if (signal.aborted || isAbortError(error)) result = { text: '', outputTokens: 0, stopReason: 'aborted' as const, logprobs: [] };
      else throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return {
      text: result.text,
      model: this.info.modelName,
      inputTokens: prompt.inputTokens,
      outputTokens: result.outputTokens,
      cachedInputTokens: prompt.cachedInputTokens,
      cacheSource: prompt.cacheSource,
      timeToFirstTokenMs: firstTokenAt === null ? null : firstTokenAt - prompt.started,
      totalMs: performance.now() - prompt.started,
      stopReason: signal.aborted ? 'aborted' : result.stopReason,
      logprobs: result.logprobs,
    };
  }

  private grammars(): GrammarCache {
    this.grammarCache ??= new GrammarCache(this.model.llama);
    return this.grammarCache;
  }

  /** Tokens in the model's vocabulary, for checking logit_bias ids. */
  private vocabularySize(): number {
    return this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? Number.MAX_SAFE_INTEGER;
  }

  /** Embeds each input with the embedding context, created on first use; a failed creation is tried again next time. */
  async embed(params: EmbedParams, signal: AbortSignal): Promise<HostEmbeddings> {
    this.embedder ??= loadLlama(this.gpuSetting).then((llama) =>
      Embedder.create({
        llama,
        chatModel: this.model,
        chatModelName: this.info.modelName,
        chatContextSize: this.context.contextSize,
        threads: this.context.currentThreads,
        ...(this.embeddingModelPath ? { modelPath: this.embeddingModelPath } : {}),
      }),
    );
    const creating = this.embedder;
    let embedder: Embedder;
    try {
      embedder = await creating;
    } catch (error) {
      if (this.embedder === creating) this.embedder = null;
      throw error;
    }
    return embedder.embed(params.inputs, signal);
  }

  /**
   * Continues a raw prompt (a legacy completion) on a free sequence. Like a chat, a prompt that does not
   * fit with its answer is refused: LlamaCompletion would otherwise cut the start of the prompt silently.
   */
  async completeText(params: TextCompletionParams, signal: AbortSignal, onText: (text: string) => void): Promise<HostCompletion> {
    const started = performance.now();
    checkPromptBytes(Buffer.byteLength(params.prompt + (params.suffix ?? ''), 'utf8'), this.limits);
    if (params.suffix !== undefined && !canFillIn(this.model)) {
      throw new DriverError('unsupported', `suffix: the local model ${this.info.modelName} has no fill-in-the-middle tokens; send the request without a suffix, or to an endpoint that accepts one.`);
    }
    const prompt = promptTokens(this.model, params.prompt, params.suffix);
    const window = this.context.contextSize;
    const room = window - prompt.length;
    if (room < 1 || (params.maxTokens !== undefined && params.maxTokens > room)) {
      throw overflow(`The prompt needs ${prompt.length} tokens${params.maxTokens ? ` plus ${params.maxTokens} for the answer` : ''}, more than the local model's context of ${window} tokens.`);
    }
    const { slot, source } = await this.pool.acquire(undefined, prompt);
    try {
      const cachedInputTokens = commonPrefixLength(slot.sequence.contextTokens, prompt);
      const result = await generateText(slot.sequence, params, params.maxTokens ?? room, signal, onText);
      return {
        text: result.text,
        model: this.info.modelName,
        inputTokens: prompt.length,
        outputTokens: result.outputTokens,
        cachedInputTokens,
        cacheSource: cachedInputTokens > 0 ? source : 'none',
        timeToFirstTokenMs: result.firstTokenAt === null ? null : result.firstTokenAt - started,
        totalMs: performance.now() - started,
        stopReason: result.stopReason,
      };
    } finally {
      await this.pool.release(slot);
    }
  }

  /** Drops a conversation's cached prompt (it was deleted). */
  forget(key: string): Promise<void> {
    return this.pool.forget(key);
  }

  /** Frees the context and the model's memory. */
  async dispose(): Promise<void> {
    for (const { timer } of this.counted.values()) clearTimeout(timer);
    this.counted.clear();
    const embedder = this.embedder;
    this.embedder = null;
    await embedder?.then((e) => e.dispose(), () => {});
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** A short key for a conversation, so a 100 KB prompt is not kept twice as the key of its own tokens. */
function promptKey(messages: ChatMessage[]): string {
  return createHash('sha256').update(JSON.stringify(messages)).digest('base64');
}
