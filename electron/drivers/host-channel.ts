/**
 * The local driver's line to the inference host: starts the process on first use, matches replies and
 * streamed text to calls, and ends every call still waiting when the process dies or is killed. A host
 * that stops answering (no reply to a ping within the grace period) is killed, so the next call starts a
 * fresh one.
 */
import { DriverError } from '../core/errors.js';
import type { TokenLogprob, ToolCallDelta } from '../core/types.js';
import type { HostCall, HostMessage, HostResults } from '../inference/protocol.js';
import type { HostExit, HostHandle, HostLauncher } from './host-process.js';

export type CallParams<M extends HostCall['method']> = Extract<HostCall, { method: M }>['params'];

/** A call waiting for its reply. */
export interface PendingCall {
  readonly method: HostCall['method'];
  /** True once any text of this call has streamed. */
  streamed: boolean;
  resolve(value: unknown): void;
  reject(error: DriverError): void;
  onText?: (text: string, logprobs?: TokenLogprob[]) => void;
  onToolCall?: (delta: ToolCallDelta) => void;
}

export interface Call<T> {
  readonly id: number;
  readonly result: Promise<T>;
}

export interface HostChannelOptions {
  launcher: HostLauncher;
  /** How long a ping may take before the host counts as stuck and is killed. */
  graceMs: number;
  /** The host died on its own (`exit`) or was killed; `error` is what its calls were told. */
  onStopped(error: DriverError, crashed: boolean): void;
}

export class HostChannel {
  private host: HostHandle | null = null;
  private nextId = 1;
  private readonly calls = new Map<number, PendingCall>();
  private aliveCheck: Promise<void> | null = null;

  constructor(private readonly options: HostChannelOptions) {}

  /** True while a host process is running. */
  running(): boolean {
    return this.host !== null;
  }

  /** Sends a call (starting the host if needed); text streamed for it goes to `onText`, tool-call pieces to `onToolCall`. */
  call<M extends HostCall['method']>(
    method: M,
    params: CallParams<M>,
    onText?: (text: string, logprobs?: TokenLogprob[]) => void,
    onToolCall?: (delta: ToolCallDelta) => void,
  ): Call<HostResults[M]> {
    const host = this.ensureHost();
    const id = this.nextId++;
    const result = new Promise<HostResults[M]>((resolve, reject) => {
      this.calls.set(id, { method, streamed: false, resolve: resolve as (value: unknown) => void, reject, ...(onText ? { onText } : {}), ...(onToolCall ? { onToolCall } : {}) });
    });
    host.send({ kind: 'call', id, method, params } as HostCall);
    return { id, result };
  }

  /** Asks the host to stop a call (a generation answers with its partial text). */
  abort(id: number): void {
    this.host?.send({ kind: 'abort', id });
  }

  /** Stops waiting for a call: a late reply is ignored. */
  abandon(id: number): PendingCall | undefined {
    const call = this.calls.get(id);
    this.calls.delete(id);
    return call;
  }

  /** True while `id` waits for its reply. */
  pending(id: number): boolean {
    return this.calls.has(id);
  }

  /** Ids of the generations waiting for their reply. */
  generations(): number[] {
    return [...this.calls].filter(([, call]) => call.method === 'complete' || call.method === 'completeText').map(([id]) => id);
  }

  /** Pings the host; one that does not answer within the grace period is stuck and is killed. */
  checkAlive(): Promise<void> {
    const host = this.host;
    if (!host) return Promise.resolve();
    this.aliveCheck ??= new Promise<void>((resolve) => {
      const { id, result } = this.call('ping', {});
      const timer = setTimeout(() => {
        this.calls.delete(id);
        if (this.host === host) this.kill(new DriverError('inference_failed', 'The local engine stopped responding and was restarted.'));
        resolve();
      }, this.options.graceMs);
      timer.unref();
      result.then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      ).finally(resolve);
    }).finally(() => {
      this.aliveCheck = null;
    });
    return this.aliveCheck;
  }

  /**
   * Kills the host (the next call starts a fresh one). Every call still waiting is rejected with `error`,
   * or with what `errorFor` gives it: a caller can tell a call that had streamed text from one that had not.
   */
  kill(error: DriverError, errorFor?: (call: PendingCall) => DriverError): void {
    const host = this.host;
    this.host = null;
    host?.kill();
    const calls = [...this.calls.values()];
    this.calls.clear();
    this.options.onStopped(error, error.kind !== 'aborted');
    for (const call of calls) call.reject(errorFor?.(call) ?? error);
  }

  private ensureHost(): HostHandle {
    if (this.host) return this.host;
    const host = this.options.launcher();
    this.host = host;
    host.onMessage((message) => this.onMessage(message));
    host.onExit((exit) => this.onExit(host, exit));
    return host;
  }

  private onMessage(message: HostMessage): void {
    switch (message.kind) {
      case 'delta': {
        const call = this.calls.get(message.id);
        if (!call) return;
        call.streamed = true;
        call.onText?.(message.text, message.logprobs);
        return;
      }
      case 'toolCall': {
        const call = this.calls.get(message.id);
        if (!call) return;
        call.streamed = true;
        call.onToolCall?.(message.delta);
        return;
      }
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

  private onExit(host: HostHandle, exit: HostExit): void {
    if (this.host !== host) return;
    this.host = null;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    const detail = exit.output ? ` llama.cpp said: ${lastLine(exit.output)}` : '';
    const error = new DriverError('inference_failed', `The local inference engine stopped unexpectedly (${how}); it restarts on the next request.${detail}`);
    const calls = [...this.calls.values()];
    this.calls.clear();
    this.options.onStopped(error, true);
    for (const call of calls) call.reject(error);
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  const line = lines.at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
