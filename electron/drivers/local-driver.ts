/**
 * The local entry of the route: a GGUF model run by node-llama-cpp inside the inference host process.
 * Requests are served one at a time in arrival order; the host is started on first use and again after a
 * crash. A host that stops answering (a call abandoned at its deadline, then no reply to a ping within the
 * grace period) is killed, so the next request starts a fresh one.
 */
import { basename } from 'node:path';
import { raceSignal } from '../core/deadlines.js';
import { DriverError } from '../core/errors.js';
import type { Capability, ChatMessage, CompletionRequest, CompletionResponse, LlmDriver, PrivacyTier } from '../core/types.js';
import type { EngineInfo, EngineOptions, HostCall, HostMessage, HostResults, ModelInspection } from '../inference/protocol.js';
import { forkHostLauncher, type HostExit, type HostHandle, type HostLauncher } from './host-process.js';

export interface LocalDriverOptions extends EngineOptions {
  id?: string;
  /** How to start the host; defaults to a Node child process. */
  launcher?: HostLauncher;
  /** Requests allowed to wait behind the running one before new ones are refused. */
  maxQueue?: number;
  /** How long an aborted call (or a ping after it) may take before the host is killed and restarted. */
  abortGraceMs?: number;
  /** Called when the model starts loading, finishes, fails, or the host dies. */
  onStatusChange?: () => void;
}

export type LocalModelState = 'not-loaded' | 'loading' | 'ready' | 'error';

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: DriverError): void;
  onText?: (text: string) => void;
}

/** Node's AbortSignal reason for a timeout, or a cancel. */
function abandoned(signal: AbortSignal): DriverError {
  const reason: unknown = signal.reason;
  return reason instanceof DriverError ? reason : new DriverError('aborted', 'The request was cancelled.');
}

interface QueuedJob {
  start(): void;
  cancel(): void;
}

type CallParams<M extends HostCall['method']> = Extract<HostCall, { method: M }>['params'];

export class LocalDriver implements LlmDriver {
  readonly id: string;
  private options: LocalDriverOptions;
  private readonly launcher: HostLauncher;
  private host: HostHandle | null = null;
  private loaded: Promise<EngineInfo> | null = null;
  private engineInfo: EngineInfo | null = null;
  private nextId = 1;
  private readonly calls = new Map<number, PendingCall>();
  private readonly queue: QueuedJob[] = [];
  private busy = false;
  private crashes = 0;
  private loadError: DriverError | null = null;
  private loadingNow = false;
  private aliveCheck: Promise<void> | null = null;

  constructor(options: LocalDriverOptions) {
    this.options = options;
    this.id = options.id ?? 'local';
    this.launcher = options.launcher ?? forkHostLauncher();
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

  /** Text chat only: node-llama-cpp 3.21 reads no images, and tools and embeddings are not served yet. */
  capabilities(): readonly Capability[] {
    return [];
  }

  /** Requests waiting behind the one being generated. */
  queueLength(): number {
    return this.queue.length;
  }

  /** True while a request is being generated or waiting. */
  isBusy(): boolean {
    return this.busy;
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
      const options: EngineOptions = { ...this.options };
      delete (options as Partial<LocalDriverOptions>).launcher;
      delete (options as Partial<LocalDriverOptions>).onStatusChange;
      this.loadingNow = true;
      this.notifyStatus();
      const loading = this.call('load', options).then(
        (info) => {
          if (this.loaded === loading) {
            this.engineInfo = info;
            this.loadError = null;
            this.loadingNow = false;
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

  /** Switches to another model (or other engine options) without restarting the app. */
  async reconfigure(options: Partial<EngineOptions>): Promise<void> {
    this.options = { ...this.options, ...options };
    this.engineInfo = null;
    this.loaded = null;
    this.loadError = null;
    this.loadingNow = false;
    if (this.host) await this.load();
  }

  /** Describes a GGUF file and whether it fits this machine, without loading it (the host starts if needed). */
  inspect(path: string, contextSize?: number): Promise<ModelInspection> {
    return this.call('inspect', { path, ...(contextSize === undefined ? {} : { contextSize }), ...(this.options.gpu === undefined ? {} : { gpu: this.options.gpu }) });
  }

  /**
   * Loads the model if it is not loaded. A caller that stops waiting (its deadline passed) leaves the load
   * running for the next request, unless the host does not answer a ping: then it is restarted.
   */
  async prepare(signal: AbortSignal): Promise<void> {
    await this.untilAbandoned(this.load(), signal);
  }

  /** Counts the prompt's tokens with the model's tokenizer and chat template. */
  async countTokens(messages: ChatMessage[], signal?: AbortSignal): Promise<number> {
    await (signal ? this.untilAbandoned(this.load(), signal) : this.load());
    const id = this.nextId++;
    const counting = this.callWithId(id, 'countTokens', { messages });
    if (!signal) return counting;
    return this.untilAbandoned(counting, signal, () => {
      this.calls.delete(id);
      this.host?.send({ kind: 'abort', id });
    });
  }

  /** Queues the request, then generates on the local model; abort returns the partial text. */
  async complete(request: CompletionRequest): Promise<CompletionResponse> {
    const started = performance.now();
    const { signal } = request;
    if (signal?.aborted) return this.abortedResponse(started, '');
    const maxQueue = this.options.maxQueue ?? 16;
    if (this.busy && this.queue.length >= maxQueue) {
      throw new DriverError('rate_limited', `The local model is busy: ${this.queue.length} requests are already waiting.`);
    }
    const admitted = await this.waitForTurn(signal);
    if (!admitted) return this.abortedResponse(started, '');
    try {
      return await this.generate(request, started);
    } finally {
      this.releaseTurn();
    }
  }

  /** Stops the host process; a later request starts it again. */
  async dispose(): Promise<void> {
    for (const job of this.queue.splice(0)) job.cancel();
    this.stopHost(new DriverError('aborted', 'The local engine was stopped.'));
  }

  private async generate(request: CompletionRequest, started: number): Promise<CompletionResponse> {
    await this.load();
    const id = this.nextId++;
    let partial = '';
    const onText = (text: string): void => {
      partial += text;
      request.onText?.(text);
    };
    const onAbort = (): void => {
      this.host?.send({ kind: 'abort', id });
      // If llama.cpp does not stop in time, kill the host: the user asked to stop, and a stuck native call
      // would otherwise hold the queue.
      const grace = setTimeout(() => {
        const call = this.calls.get(id);
        if (!call) return;
        this.calls.delete(id);
        this.restartHost();
        call.resolve(null);
      }, this.options.abortGraceMs ?? 1000);
      grace.unref();
    };
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await this.callWithId(id, 'complete', {
        messages: request.messages,
        ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.seed === undefined ? {} : { seed: request.seed }),
      }, onText);
      if (result === null) return this.abortedResponse(started, partial);
      return {
        text: result.text,
        entryId: this.id,
        model: result.model,
        usage: {
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          cachedInputTokens: result.cachedInputTokens,
        },
        timings: {
          timeToFirstTokenMs: result.timeToFirstTokenMs === null ? null : result.timeToFirstTokenMs + (performance.now() - started - result.totalMs),
          totalMs: performance.now() - started,
        },
        stopReason: result.stopReason,
      };
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
    }
  }

  private abortedResponse(started: number, text: string): CompletionResponse {
    return {
      text,
      entryId: this.id,
      model: this.modelName(),
      usage: { inputTokens: 0, outputTokens: 0 },
      timings: { timeToFirstTokenMs: null, totalMs: performance.now() - started },
      stopReason: 'aborted',
    };
  }

  private waitForTurn(signal: AbortSignal | undefined): Promise<boolean> {
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const job: QueuedJob = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
        cancel: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(false);
        },
      };
      const onAbort = (): void => {
        const at = this.queue.indexOf(job);
        if (at !== -1) this.queue.splice(at, 1);
        job.cancel();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
    });
  }

  private releaseTurn(): void {
    const next = this.queue.shift();
    if (next) next.start();
    else this.busy = false;
  }

  private call<M extends HostCall['method']>(method: M, params: CallParams<M>): Promise<HostResults[M]> {
    return this.callWithId(this.nextId++, method, params);
  }

  private callWithId<M extends HostCall['method']>(
    id: number,
    method: M,
    params: CallParams<M>,
    onText?: (text: string) => void,
  ): Promise<HostResults[M]> {
    const host = this.ensureHost();
    return new Promise<HostResults[M]>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, ...(onText ? { onText } : {}) });
      host.send({ kind: 'call', id, method, params } as HostCall);
    });
  }

  private ensureHost(): HostHandle {
    if (this.host) return this.host;
    const host = this.launcher();
    this.host = host;
    host.onMessage((message) => this.onHostMessage(message));
    host.onExit((exit) => this.onHostExit(host, exit));
    return host;
  }

  private onHostMessage(message: HostMessage): void {
    switch (message.kind) {
      case 'delta':
        this.calls.get(message.id)?.onText?.(message.text);
        return;
      case 'reply': {
        const call = this.calls.get(message.id);
        if (!call) return;
        this.calls.delete(message.id);
        if (message.ok) call.resolve(message.value);
        else call.reject(DriverError.fromData(message.error));
        return;
      }
      case 'log':
        return;
      default:
        message satisfies never;
    }
  }

  private onHostExit(host: HostHandle, exit: HostExit): void {
    if (this.host !== host) return;
    this.host = null;
    this.loaded = null;
    this.engineInfo = null;
    this.crashes++;
    this.loadingNow = false;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    const detail = exit.output ? ` llama.cpp said: ${lastLine(exit.output)}` : '';
    const error = new DriverError('inference_failed', `The local inference engine stopped unexpectedly (${how}); it restarts on the next request.${detail}`);
    this.loadError = error;
    this.failAll(error);
    this.notifyStatus();
  }

  private restartHost(): void {
    this.stopHost(new DriverError('inference_failed', 'The local engine was restarted because a stopped generation did not end.'));
  }

  /**
   * Waits for `promise` until `signal` aborts; then stops waiting at once (running `onAbandon`) and checks
   * in the background that the host still answers.
   */
  private untilAbandoned<T>(promise: Promise<T>, signal: AbortSignal, onAbandon?: () => void): Promise<T> {
    return raceSignal(promise, signal, () => {
      onAbandon?.();
      void this.checkAlive();
      return abandoned(signal);
    });
  }

  /** Pings the host; one that does not answer within the grace period is stuck and is killed. */
  private checkAlive(): Promise<void> {
    const host = this.host;
    if (!host) return Promise.resolve();
    this.aliveCheck ??= new Promise<void>((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.calls.delete(id);
        if (this.host === host) this.stopHost(new DriverError('inference_failed', 'The local engine stopped responding and was restarted.'));
        resolve();
      }, this.options.abortGraceMs ?? 1000);
      timer.unref();
      this.calls.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      host.send({ kind: 'call', id, method: 'ping', params: {} });
    }).finally(() => {
      this.aliveCheck = null;
    });
    return this.aliveCheck;
  }

  /** Kills the host (the next request starts a fresh one) and ends every call still waiting on it. */
  private stopHost(error: DriverError): void {
    const host = this.host;
    this.host = null;
    this.loaded = null;
    this.engineInfo = null;
    this.loadingNow = false;
    host?.kill();
    if (error.kind !== 'aborted') {
      this.crashes++;
      this.loadError = error;
    }
    this.failAll(error);
    this.notifyStatus();
  }

  private failAll(error: DriverError): void {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(error);
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  const line = lines.at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
