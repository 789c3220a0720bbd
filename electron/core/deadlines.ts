/**
 * A deadline on every step of one attempt at one entry: loading, counting the prompt, the first text and
 * each gap between pieces. When a deadline passes, the attempt ends at once with a `timeout` naming the
 * step: the router moves on without waiting for the entry to notice, and the entry cleans up on its own
 * (the local driver restarts an engine that does not answer).
 */
import { DriverError } from './errors.js';
import type { CompletionRequest, CompletionResponse, LlmDriver } from './types.js';

export interface Deadlines {
  /** Longest wait for `prepare()` (loading the model), in ms; 0 means none. */
  loadMs: number;
  /** From the end of loading to the first streamed text, prompt counting included, in ms; 0 means none. */
  firstTokenMs: number;
  /** Longest silence between streamed pieces, in ms; 0 means none. */
  idleMs: number;
}

export const DEFAULT_LOAD_TIMEOUT_MS = 120_000;
/** Local prompt processing of a long conversation can take a while on a CPU, so this is generous. */
export const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 120_000;
/** Once text flows, a long silence means the engine is stuck. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** An endpoint's limit on the wait for its first text and on any silence after. */
export const DEFAULT_CLOUD_TIMEOUT_MS = 60_000;

/** How long a driver may take to stop after a cancel before the attempt ends without it. */
export const CANCEL_GRACE_MS = 2000;

/** The step an attempt was in. */
export type AttemptStep = 'load' | 'count' | 'first-token' | 'idle';

export interface AttemptOptions {
  deadlines: Deadlines;
  /** The entry's name for messages. */
  name: string;
  /** Runs after loading, under the first-token deadline: the pre-flight count. Rejects to stop the attempt. */
  preflight?: (signal: AbortSignal) => Promise<void>;
}

/**
 * Runs prepare → preflight → complete under the deadlines. A cancel by the caller before any text is asked
 * for rejects with `aborted`; once generation runs, the driver resolves with its partial text as usual.
 */
export async function runAttempt(driver: LlmDriver, request: CompletionRequest, options: AttemptOptions): Promise<CompletionResponse> {
  const { deadlines, name } = options;
  const controller = new AbortController();
  const outer = request.signal;
  let step: AttemptStep = 'load';
  let ended: DriverError | null = null;
  let reject!: (error: DriverError) => void;
  const stopped = new Promise<never>((_, r) => (reject = r));
  stopped.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | null = null;
  let grace: ReturnType<typeof setTimeout> | null = null;

  const stop = (error: DriverError): void => {
    if (ended) return;
    ended = error;
    if (timer) clearTimeout(timer);
    if (grace) clearTimeout(grace);
    controller.abort(error);
    reject(error);
  };
  const arm = (ms: number): void => {
    if (timer) clearTimeout(timer);
    timer = ms > 0 ? setTimeout(() => stop(new DriverError('timeout', timeoutMessage(name, step, deadlines))), ms) : null;
  };
  /** Waits for `promise` unless the attempt ends first; a late rejection is never unhandled. */
  const guard = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => {});
    return Promise.race([promise, stopped]);
  };
  const onCancel = (): void => {
    // During generation the driver itself resolves with the partial text, given a moment to stop; before
    // it, nothing is in flight that could answer, so the attempt ends as a cancel right away.
    const cancelled = new DriverError('aborted', 'The request was cancelled.');
    if (step === 'load' || step === 'count') return stop(cancelled);
    controller.abort(outer?.reason);
    // The step's own deadline keeps running: whichever ends first ends the attempt.
    grace ??= setTimeout(() => stop(cancelled), CANCEL_GRACE_MS);
  };

  if (outer?.aborted) throw new DriverError('aborted', 'The request was cancelled.');
  outer?.addEventListener('abort', onCancel, { once: true });
  try {
    if (driver.prepare) {
      arm(deadlines.loadMs);
      await guard(driver.prepare(controller.signal));
    }
    step = 'count';
    arm(deadlines.firstTokenMs);
    if (options.preflight) await guard(options.preflight(controller.signal));
    step = 'first-token';
    const response = await guard(
      driver.complete({
        ...request,
        signal: controller.signal,
        onText: (text) => {
          if (ended) return;
          step = 'idle';
          arm(deadlines.idleMs);
          request.onText?.(text);
        },
      }),
    );
    if (ended) throw ended;
    return response;
  } finally {
    if (timer) clearTimeout(timer);
    if (grace) clearTimeout(grace);
    outer?.removeEventListener('abort', onCancel);
  }
}

function timeoutMessage(name: string, step: AttemptStep, deadlines: Deadlines): string {
  switch (step) {
    case 'load': return `${name} did not finish loading within ${formatDuration(deadlines.loadMs)}.`;
    case 'count': return `${name} did not finish reading the prompt within ${formatDuration(deadlines.firstTokenMs)}.`;
    case 'first-token': return `${name} produced no text within ${formatDuration(deadlines.firstTokenMs)}.`;
    case 'idle': return `${name} stopped producing text for ${formatDuration(deadlines.idleMs)}.`;
    default: return step satisfies never;
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Runs one call under a single deadline: its signal aborts when `ms` pass (0: never) or `outer` aborts, and
 * the call's promise is abandoned at once with a `timeout` (`what` and the duration) or an `aborted`.
 */
export async function withDeadline<T>(task: (signal: AbortSignal) => Promise<T>, ms: number, what: string, outer?: AbortSignal): Promise<T> {
  if (outer?.aborted) throw new DriverError('aborted', 'The request was cancelled.');
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let onAbort: (() => void) | null = null;
  const stopped = new Promise<never>((_, reject) => {
    if (ms > 0) {
      timer = setTimeout(() => {
        const error = new DriverError('timeout', `${what} ${formatDuration(ms)}.`);
        controller.abort(error);
        reject(error);
      }, ms);
    }
    onAbort = () => {
      controller.abort(outer?.reason);
      reject(new DriverError('aborted', 'The request was cancelled.'));
    };
    outer?.addEventListener('abort', onAbort, { once: true });
  });
  stopped.catch(() => {});
  const running = task(controller.signal);
  running.catch(() => {});
  try {
    return await Promise.race([running, stopped]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) outer?.removeEventListener('abort', onAbort);
  }
}

/**
 * Waits for `promise` unless `signal` aborts first: then rejects at once with `onAbort()`'s error and stops
 * waiting (the promise runs on; a late rejection is never unhandled).
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
