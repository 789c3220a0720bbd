/**
 * The local entry of the route: a GGUF model run by node-llama-cpp inside the inference host process.
 * As many requests generate at once as the engine has sequences; up to `maxQueue` more wait in arrival
 * order (see admission.ts). The host is started on first use and again after a crash.
 *
 * When one generation does not stop after a cancel and the host must be killed, the other answers are not
 * lost silently: one that had streamed text ends with a clear error (the router marks it incomplete), one
 * that had not is sent again to the new host once. Switching the model mid-answer ends the answer with
 * stop reason `switched` and its partial text; an answer that had not started runs on the new model.
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { raceSignal } from '../core/deadlines.js';
import { DriverError } from '../core/errors.js';
import type { Capability, ChatMessage, CompletionRequest, CompletionResponse, EmbeddingResponse, LlmDriver, PrivacyTier, TextPrompt, TokenLogprob } from '../core/types.js';
import { precheckGguf } from '../inference/gguf-precheck.js';
import type { EngineInfo, EngineOptions, GenerateParams, HostCompletion } from '../inference/protocol.js';
import { stateFileName } from '../inference/state-cache.js';
import { Admission } from './admission.js';
import { HostChannel, type PendingCall } from './host-channel.js';
import { forkHostLauncher, type HostLauncher } from './host-process.js';

export interface LocalDriverOptions extends EngineOptions {
  id?: string;
  /** How to start the host; defaults to a Node child process. */
  launcher?: HostLauncher;
  /** Requests allowed to wait behind the running ones before new ones are refused. */
  maxQueue?: number;
  /** How long an aborted call (or a ping after it) may take before the host is killed and restarted. */
  abortGraceMs?: number;
  /** Called when the model starts loading, finishes, fails, or the host dies. */
  onStatusChange?: () => void;
}

export type LocalModelState = 'not-loaded' | 'loading' | 'ready' | 'error';

export const DEFAULT_MAX_QUEUE = 16;

/** Node's AbortSignal reason for a timeout, or a cancel. */
function abandoned(signal: AbortSignal): DriverError {
  const reason: unknown = signal.reason;
  return reason instanceof DriverError ? reason : new DriverError('aborted', 'The request was cancelled.');
}

/** Removes a conversation's saved prompt state from the cache folder, with or without a running host. */
export async function dropSavedPrompt(stateCacheDir: string, key: string): Promise<void> {
  await rm(join(stateCacheDir, stateFileName(key)), { force: true });
}

/** A generation ended by a host restart before it had produced any text: it may run again. */
class NotStarted extends DriverError {}

export class LocalDriver implements LlmDriver {
  readonly id: string;
  private options: LocalDriverOptions;
  private readonly channel: HostChannel;
  private readonly admission: Admission;
  /**
   * Embeddings run one request at a time on the engine's embedding context, a context of its own (no chat
   * sequence is taken): their own limit of one and queue, so a batch of embeddings never holds a chat's place.
   */
  private readonly embedAdmission: Admission;
  /** The model was found unable to make embeddings (an encoder-decoder model): the capability is withdrawn. */
  private embeddingsRefused = false;
  private loaded: Promise<EngineInfo> | null = null;
  private engineInfo: EngineInfo | null = null;
  private crashes = 0;
  private loadError: DriverError | null = null;
  private loadingNow = false;
  /** Generations ended because the model was switched (or the driver retired): they report `switched`. */
  private readonly switched = new Set<number>();
  private retired = false;
  /** The loaded model can call functions (see capabilities). */
  private functionCalling = false;

  constructor(options: LocalDriverOptions) {
    this.options = options;
    this.id = options.id ?? 'local';
    this.admission = new Admission(options.maxQueue ?? DEFAULT_MAX_QUEUE);
    this.admission.setLimit(options.parallel ?? 1);
    this.embedAdmission = new Admission(options.maxQueue ?? DEFAULT_MAX_QUEUE);
    this.channel = new HostChannel({
      launcher: options.launcher ?? forkHostLauncher(),
      graceMs: options.abortGraceMs ?? 1000,
      onStopped: (error, crashed) => this.onHostStopped(error, crashed),
    });
  }

  /** The model file name until the model is loaded, then the name from its metadata. */
  modelName(): string {
    return this.engineInfo?.modelName ?? basename(this.options.modelPath).replace(/\.gguf$/i, '');
  }

  /** The loaded context size; before loading, the requested one (0 when unknown). */
  contextWindow(): number {
    return this.engineInfo?.contextSize ?? this.options.contextSize ?? 0;
  }

  /** Local inference never leaves the machine. */
  privacyTier(): PrivacyTier {
    return 'sovereign';
  }

  /**
   * Tools when the loaded model's chat template has a function-call syntax (known once it has loaded);
   * embeddings, made by an embedding context on the loaded model or on the embedding model chosen in
   * settings, unless the model proved unable to. No images (node-llama-cpp 3.21 reads none).
   */
  capabilities(): readonly Capability[] {
    return [...(this.functionCalling ? (['tools'] as const) : []), ...(this.embeddingsRefused ? [] : (['embeddings'] as const))];
  }

  /** Requests waiting for a sequence. */
  queueLength(): number {
    return this.admission.queued();
  }

  /** True while a request is being generated or waiting. */
  isBusy(): boolean {
    return this.admission.running() + this.admission.queued() > 0;
  }

  /** What the host reported at load time, or null before a successful load. */
  info(): EngineInfo | null {
    return this.engineInfo;
  }

  /** How many times the host process has died unexpectedly. */
  crashCount(): number {
    return this.crashes;
  }

  /** Where the model stands: not loaded yet, loading, ready, or failed to load (with why). */
  status(): { state: LocalModelState; error: DriverError | null } {
    if (this.loadingNow) return { state: 'loading', error: null };
    if (this.engineInfo) return { state: 'ready', error: null };
    if (this.loadError) return { state: 'error', error: this.loadError };
    return { state: 'not-loaded', error: null };
  }

  /** Starts the host and loads the model if that has not happened yet; resolves with the engine info. */
  async load(): Promise<EngineInfo> {
    if (!this.loaded) {
      const { launcher: _launcher, onStatusChange: _onStatusChange, id: _id, maxQueue: _maxQueue, abortGraceMs: _grace, ...engine } = this.options;
      this.loadingNow = true;
      this.notifyStatus();
      // A file that fails the bounded checks never reaches (or starts) the host.
      const checked = engine.unsafeSkipValidation ? Promise.resolve(0) : precheckGguf(engine.modelPath);
      const loading: Promise<EngineInfo> = checked.then(() => {
        // Stopped or reconfigured while the file was checked: this load must not start a host.
        if (this.loaded !== loading) throw new DriverError('aborted', 'The local engine was stopped before the model loaded.');
        return this.channel.call('load', engine).result;
      }).then(
        (info) => {
          if (this.loaded === loading) {
            const { functionCalling, ...engineInfo } = info;
            this.engineInfo = engineInfo;
            this.functionCalling = functionCalling;
            this.loadError = null;
            this.loadingNow = false;
            this.admission.setLimit(info.sequences);
            this.notifyStatus();
          }
          return info;
        },
        (error: unknown) => {
          // A failed load is retried on the next request: the user may have fixed the file meanwhile.
          if (this.loaded === loading) {
            this.loaded = null;
            this.loadError = DriverError.from(error);
            this.loadingNow = false;
            this.notifyStatus();
          }
          throw error;
        },
      );
      this.loaded = loading;
    }
    return this.loaded;
  }

  private notifyStatus(): void {
    this.options.onStatusChange?.();
  }

  /**
   * Switches to another model (or other engine options) without restarting the app. Answers being written
   * end with stop reason `switched` and keep their text; those not started yet, and those waiting, run on
   * the new model.
   */
  async reconfigure(options: Partial<EngineOptions>): Promise<void> {
    this.options = { ...this.options, ...options };
    this.embeddingsRefused = false;
    this.engineInfo = null;
    if (options.modelPath !== undefined) this.functionCalling = false;
    this.loaded = null;
    this.loadError = null;
    this.loadingNow = false;
    this.endGenerations();
    if (this.channel.running()) await this.load();
  }

  /**
   * The model is no longer the local engine's (it was removed from the settings): answers being written end
   * with stop reason `switched`, waiting ones fail with `model_not_found` (another entry may answer), and the
   * host stops once the answers have ended.
   */
  async retire(): Promise<void> {
    this.retired = true;
    this.admission.failWaiting(new DriverError('model_not_found', 'The local model was removed while this request waited.'));
    this.embedAdmission.failWaiting(new DriverError('model_not_found', 'The local model was removed while this request waited.'));
    const ending = this.endGenerations();
    await Promise.race([ending, new Promise((resolve) => setTimeout(resolve, (this.options.abortGraceMs ?? 1000) * 2).unref())]);
    await this.dispose();
  }

  /**
   * Drops a conversation's cached prompt: its state saved on disk and its tokens in a sequence. Without a
   * running host the file is removed here; the host's index forgets missing files when it starts.
   */
  async forget(key: string): Promise<void> {
    if (this.channel.running()) {
      await this.channel.call('forget', { key }).result.catch(() => {});
    }
    if (this.options.stateCacheDir) await dropSavedPrompt(this.options.stateCacheDir, key);
  }

  /**
   * Loads the model if it is not loaded. A caller that stops waiting (its deadline passed) leaves the load
   * running for the next request, unless the host does not answer a ping: then it is restarted.
   */
  async prepare(signal: AbortSignal): Promise<void> {
    await this.untilAbandoned(this.load(), signal);
  }

  /** Counts the prompt's tokens with the model's tokenizer and chat template (an over-long one is refused cheaply). */
  async countTokens(messages: ChatMessage[], signal?: AbortSignal): Promise<number> {
    await (signal ? this.untilAbandoned(this.load(), signal) : this.load());
    const counting = this.channel.call('countTokens', { messages });
    if (!signal) return counting.result;
    return this.untilAbandoned(counting.result, signal, () => {
      this.channel.abandon(counting.id);
      this.channel.abort(counting.id);
    });
  }

  /**
   * Embeds each input in order (vectors of length 1). An input longer than the embedding context is refused
   * with `context_overflow`, as OpenAI refuses it, never cut.
   */
  async embed(input: string[], signal?: AbortSignal): Promise<EmbeddingResponse> {
    if (signal?.aborted) throw new DriverError('aborted', 'The request was cancelled.');
    if (!(await this.embedAdmission.enter(signal))) throw new DriverError('aborted', 'The request was cancelled.');
    const started = performance.now();
    try {
      if (this.retired) throw new DriverError('model_not_found', 'The local model was removed before this request was answered.');
      await (signal ? this.untilAbandoned(this.load(), signal) : this.load());
      const call = this.channel.call('embed', { inputs: input });
      const result = await (signal
        ? this.untilAbandoned(call.result, signal, () => {
            this.channel.abandon(call.id);
            this.channel.abort(call.id);
          })
        : call.result);
      return { entryId: this.id, model: result.model, vectors: result.vectors, usage: { inputTokens: result.inputTokens } };
    } catch (error) {
      if (error instanceof DriverError && error.kind === 'unsupported') this.embeddingsRefused = true;
      throw error;
    } finally {
      this.embedAdmission.leave(performance.now() - started);
    }
  }

  /** Waits for a sequence, then generates on the local model; abort returns the partial text. */
  async complete(request: CompletionRequest): Promise<CompletionResponse> {
    const started = performance.now();
    const { signal } = request;
    if (request.prompt) refuseUnsupported(request.prompt);
    if (signal?.aborted) return this.abortedResponse(started, '');
    const admitted = await this.admission.enter(signal);
    if (!admitted) return this.abortedResponse(started, '');
    const generating = performance.now();
    try {
      return await this.generate(request, started);
    } finally {
      this.admission.leave(performance.now() - generating);
    }
  }

  /** Stops the host process; a later request starts it again. */
  async dispose(): Promise<void> {
    this.admission.failWaiting(null);
    this.embedAdmission.failWaiting(null);
    this.channel.kill(new DriverError('aborted', 'The local engine was stopped.'));
  }

  private async generate(request: CompletionRequest, started: number): Promise<CompletionResponse> {
    let partial = '';
    const onText = (text: string, logprobs?: TokenLogprob[]): void => {
      partial += text;
      if (logprobs) request.onLogprobs?.(logprobs);
      request.onText?.(text);
    };
    const params = generateParams(request);
    for (let attempt = 0; ; attempt++) {
      if (this.retired) throw new DriverError('model_not_found', 'The local model was removed before this request was answered.');
      await this.load();
      // A cancel while the model loaded (or while waiting for the retry) ends it here.
      if (request.signal?.aborted) return this.abortedResponse(started, partial);
      const call = request.prompt ? this.channel.call('completeText', textParams(request, request.prompt), onText) : this.channel.call('complete', params, onText, request.onToolCall);
      const onAbort = (): void => this.stopGeneration(call.id);
      request.signal?.addEventListener('abort', onAbort, { once: true });
      let result: HostCompletion | null;
      try {
        result = await call.result;
      } catch (error) {
        const cancelled = request.signal?.aborted === true;
        if (this.switched.delete(call.id) && !cancelled) {
          // The switch's restart of a stuck host ended it: as if the host had stopped it in time.
          if (partial !== '') return this.endedResponse(started, partial, 'switched');
          if (!this.retired) continue;
        }
        if (error instanceof NotStarted && attempt === 0 && partial === '' && !cancelled) continue;
        throw error;
      } finally {
        request.signal?.removeEventListener('abort', onAbort);
      }
      const switched = this.switched.delete(call.id) && !request.signal?.aborted;
      // An answer the switch ended before it began runs on the new model instead.
      if (switched && (result?.text ?? partial) === '' && !this.retired) continue;
      if (result === null) return this.endedResponse(started, partial, switched ? 'switched' : 'aborted');
      return {
        text: result.text,
        entryId: this.id,
        model: result.model,
        usage: { inputTokens: result.inputTokens, outputTokens: result.outputTokens, cachedInputTokens: result.cachedInputTokens },
        timings: {
          timeToFirstTokenMs: result.timeToFirstTokenMs === null ? null : result.timeToFirstTokenMs + (performance.now() - started - result.totalMs),
          totalMs: performance.now() - started,
        },
        stopReason: switched && result.stopReason === 'aborted' ? 'switched' : result.stopReason,
        ...(result.toolCalls ? { toolCalls: result.toolCalls } : {}),
        ...(result.logprobs ? { logprobs: result.logprobs } : {}),
      };
    }
  }

  /**
   * Asks the host to stop a generation. If llama.cpp does not stop in time, the host is killed: a stuck
   * native call would otherwise hold a sequence. The stuck generation resolves with what it streamed.
   */
  private stopGeneration(id: number): void {
    this.channel.abort(id);
    const grace = setTimeout(() => {
      if (!this.channel.pending(id)) return;
      const stuck = this.channel.abandon(id)!;
      this.channel.kill(
        new DriverError('inference_failed', 'The local engine was restarted because a stopped generation did not end.'),
        (call) => (call.method !== 'complete' && call.method !== 'completeText'
          ? new DriverError('inference_failed', 'The local engine was restarted because another answer did not stop; try again.')
          : restartedError(call)),
      );
      stuck.resolve(null);
    }, this.options.abortGraceMs ?? 1000);
    grace.unref();
  }

  /** Ends every generation in progress as `switched` (see reconfigure); resolves when none is left. */
  private endGenerations(): Promise<void> {
    const ids = this.channel.generations();
    for (const id of ids) {
      this.switched.add(id);
      this.stopGeneration(id);
    }
    return new Promise((resolve) => {
      const check = (): void => {
        if (ids.every((id) => !this.channel.pending(id))) resolve();
        else setTimeout(check, 10).unref();
      };
      check();
    });
  }

  private onHostStopped(error: DriverError, crashed: boolean): void {
    this.loaded = null;
    this.engineInfo = null;
    this.loadingNow = false;
    if (crashed) {
      this.crashes++;
      this.loadError = error;
    }
    this.notifyStatus();
  }

  private abortedResponse(started: number, text: string): CompletionResponse {
    return this.endedResponse(started, text, 'aborted');
  }

  /** An answer that ended without the host's report: what had streamed. */
  private endedResponse(started: number, text: string, stopReason: 'aborted' | 'switched'): CompletionResponse {
    return {
      text,
      entryId: this.id,
      model: this.modelName(),
      usage: { inputTokens: 0, outputTokens: 0 },
      timings: { timeToFirstTokenMs: null, totalMs: performance.now() - started },
      stopReason,
    };
  }

  /**
   * Waits for `promise` until `signal` aborts; then stops waiting at once (running `onAbandon`) and checks
   * in the background that the host still answers.
   */
  private untilAbandoned<T>(promise: Promise<T>, signal: AbortSignal, onAbandon?: () => void): Promise<T> {
    return raceSignal(promise, signal, () => {
      onAbandon?.();
      void this.channel.checkAlive();
      return abandoned(signal);
    });
  }
}

/** A legacy completion's prompt and sampling as the host takes them. */
function textParams(request: CompletionRequest, prompt: TextPrompt) {
  return {
    prompt: prompt.text,
    ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.seed === undefined ? {} : { seed: request.seed }),
    ...(prompt.topP === undefined ? {} : { topP: prompt.topP }),
    ...(prompt.stop === undefined ? {} : { stop: prompt.stop }),
    // An empty suffix asks for nothing after the insertion point: a plain completion.
    ...(prompt.suffix ? { suffix: prompt.suffix } : {}),
  };
}

/** What LlamaCompletion cannot do on this engine is refused by name, never dropped silently. */
function refuseUnsupported(prompt: TextPrompt): void {
  if (prompt.n !== undefined && prompt.n > 1) {
    throw new DriverError('unsupported', 'n: the local model writes one completion per request; send n = 1, or several requests.');
  }
  if (prompt.logprobs !== undefined) {
    throw new DriverError('unsupported', 'logprobs: the local model does not report log probabilities for legacy completions; send the request without logprobs.');
  }
}

/** What a generation is told when another one's restart of the host ends it. */
function restartedError(call: PendingCall): DriverError {
  if (call.streamed) {
    return new DriverError('inference_failed', 'The local engine had to be restarted because another answer did not stop; this answer was cut short.');
  }
  return new NotStarted('inference_failed', 'The local engine had to be restarted because another answer did not stop, before this answer began.');
}

/** What the host gets of a request: its messages and every generation field the request sets. */
const GENERATE_FIELDS = [
  'maxTokens', 'temperature', 'seed', 'stop', 'topP', 'topK', 'minP', 'presencePenalty', 'frequencyPenalty', 'logitBias',
  'responseFormat', 'logprobs', 'affinityKey', 'tools', 'toolChoice', 'parallelToolCalls',
] as const;
// A field added to GenerateParams must be listed above, or it would never reach the host.
type UnlistedField = Exclude<keyof GenerateParams, 'messages' | (typeof GENERATE_FIELDS)[number]>;
const allFieldsListed: UnlistedField extends never ? true : UnlistedField = true;
void allFieldsListed;

function generateParams(request: CompletionRequest): GenerateParams {
  const params: Record<string, unknown> = { messages: request.messages };
  for (const field of GENERATE_FIELDS) if (request[field] !== undefined) params[field] = request[field];
  return params as unknown as GenerateParams;
}
