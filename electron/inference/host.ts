/**
 * Entry point of the inference host process: a Node child process in headless mode and tests, an Electron
 * utilityProcess in the desktop app. It owns the one loaded model and answers the local driver's calls.
 * If llama.cpp aborts natively, only this process dies; the driver notices and starts a new one.
 */
import { DeltaBatcher } from '../core/delta-batcher.js';
import { DriverError } from '../core/errors.js';
import type { TokenLogprob } from '../core/types.js';
import { Engine, loadLlama } from './engine.js';
import { inspectModel } from './inspect.js';
import type { HostCall, HostMessage, HostRequest } from './protocol.js';

interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;

function send(message: HostMessage): void {
  if (parentPort) parentPort.postMessage(message);
  else process.send?.(message);
}

let engine: Engine | null = null;
let loading: Promise<Engine> | null = null;
/** Calls that can be aborted (generations, counts), by id. */
const running = new Map<number, AbortController>();
/** Generations in progress, by id: a model is disposed only after they have ended. */
const generating = new Map<number, Promise<unknown>>();

/** Aborts every generation and waits for them to end (they answer with their partial text). */
async function endGenerations(): Promise<void> {
  for (const id of generating.keys()) running.get(id)?.abort();
  await Promise.allSettled([...generating.values()]);
}

async function handle(call: HostCall): Promise<unknown> {
  switch (call.method) {
    case 'load': {
      const previous = engine;
      engine = null;
      if (previous) {
        await endGenerations();
        await previous.dispose();
      }
      loading = Engine.load(call.params);
      try {
        engine = await loading;
      } finally {
        loading = null;
      }
      return engine.info;
    }
    case 'complete': {
      // A generation sent while a new model loads (the switch raced it) runs on the new model.
      const current = engine ?? (loading ? await loading : requireEngine());
      const batcher = new DeltaBatcher((text) => send({ kind: 'delta', id: call.id, text }));
      // Text with log probabilities goes out as it comes, so each delta carries the tokens behind it.
      const onText = call.params.logprobs === undefined
        ? (text: string) => batcher.push(text)
        : (text: string, logprobs?: TokenLogprob[]) => send({ kind: 'delta', id: call.id, text, ...(logprobs ? { logprobs } : {}) });
      return tracked(call.id, batcher, (signal) =>
        current.complete(call.params, signal, onText, (delta) => {
          // The text before a call goes first.
          batcher.flush();
          send({ kind: 'toolCall', id: call.id, delta });
        }),
      );
    }
    case 'completeText': {
      const current = engine ?? (loading ? await loading : requireEngine());
      const batcher = new DeltaBatcher((text) => send({ kind: 'delta', id: call.id, text }));
      return tracked(call.id, batcher, (signal) => current.completeText(call.params, signal, (text) => batcher.push(text)));
    }
    case 'embed': {
      const current = engine ?? (loading ? await loading : requireEngine());
      return tracked(call.id, null, (signal) => current.embed(call.params, signal));
    }
    case 'countTokens': {
      const controller = new AbortController();
      running.set(call.id, controller);
      try {
        return await requireEngine().countTokens(call.params.messages, controller.signal);
      } finally {
        running.delete(call.id);
      }
    }
    case 'forget':
      await engine?.forget(call.params.key);
      return null;
    case 'inspect':
      return inspectModel(call.params.path, await loadLlama(call.params.gpu ?? engine?.gpuSetting ?? 'auto'), call.params.contextSize);
    case 'ping':
      return null;
    case 'unload': {
      const previous = engine;
      engine = null;
      if (previous) {
        await endGenerations();
        await previous.dispose();
      }
      return null;
    }
    default:
      return call satisfies never;
  }
}

/**
 * Runs work the driver may abort and a model switch must wait for (a generation or embeddings): its
 * streamed text, if any, is flushed before the reply.
 */
async function tracked<T>(id: number, batcher: DeltaBatcher | null, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  running.set(id, controller);
  const result = work(controller.signal);
  generating.set(id, result);
  try {
    return await result;
  } finally {
    batcher?.flush();
    generating.delete(id);
    running.delete(id);
  }
}

function requireEngine(): Engine {
  if (!engine) throw new DriverError('model_not_found', 'No local model is loaded.');
  return engine;
}

function onRequest(raw: unknown): void {
  const request = raw as HostRequest;
  if (request.kind === 'abort') {
    running.get(request.id)?.abort();
    return;
  }
  handle(request).then(
    (value) => send({ kind: 'reply', id: request.id, ok: true, value }),
    (error: unknown) => send({ kind: 'reply', id: request.id, ok: false, error: DriverError.from(error).toData() }),
  );
}

if (parentPort) parentPort.on('message', (event) => onRequest(event.data));
else process.on('message', onRequest);

// The parent going away must not leave a model resident in memory. A forked child learns it from its IPC
// channel ('disconnect'); a utilityProcess has no such event, so its parent's pid (passed by
// electron/main/host-launcher.ts, else process.ppid) is checked every second: once that process is
// gone, or this one was handed to another parent, the host exits.
process.on('disconnect', () => process.exit(0));
const PARENT_CHECK_MS = 1000;
const parentPidArg = process.argv.indexOf('--parent-pid');
const parentPid = parentPidArg >= 0 ? Number(process.argv[parentPidArg + 1]) : process.ppid;
const firstPpid = process.ppid;
setInterval(() => {
  if (process.ppid !== firstPpid || !isRunning(parentPid)) process.exit(0);
}, PARENT_CHECK_MS);

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
