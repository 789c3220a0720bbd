/**
 * What the renderer gets as `window.spillway`: one function per contract channel and a subscription to
 * the contract's events. Nothing generic (no `invoke(channel)`, no raw `ipcRenderer`), so a compromised
 * page can reach exactly the calls the contract names and nothing else.
 */
import type { IpcRenderer, IpcRendererEvent } from 'electron';
import { apiName, CHANNELS, EVENTS, type AppError, type EventName, type Result, type SpillwayApi } from '../contract/index.js';

/** The parts of ipcRenderer the bridge uses; tests pass a fake. */
export type BridgeIpc = Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>;

const KNOWN_EVENTS: ReadonlySet<string> = new Set(EVENTS);

/** Builds the bridged API over an ipcRenderer. */
export function buildApi(ipc: BridgeIpc): SpillwayApi {
  const api: Record<string, unknown> = {};
  for (const channel of CHANNELS) {
    api[apiName(channel)] = (request: unknown) => invoke(ipc, channel, request);
  }
  api.on = (event: EventName, listener: (payload: unknown) => void): (() => void) => {
    if (!KNOWN_EVENTS.has(event)) throw new TypeError(`Unknown event: ${String(event)}`);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    // The IPC event object carries `sender` (the ipcRenderer itself): never hand it to the page.
    const forward = (_event: IpcRendererEvent, payload: unknown): void => listener(payload);
    ipc.on(event, forward);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      ipc.removeListener(event, forward);
    };
  };
  return api as SpillwayApi;
}

async function invoke(ipc: BridgeIpc, channel: string, request: unknown): Promise<Result<unknown>> {
  try {
    return (await ipc.invoke(channel, request ?? {})) as Result<unknown>;
  } catch (error) {
    // Main's handlers never throw, so this is IPC itself failing (no handler yet, an uncloneable request):
    // still hand the renderer contract data rather than an Error whose prototype the bridge strips.
    const message = error instanceof Error ? error.message : String(error);
    const uncloneable = /could not be cloned/i.test(message);
    const appError: AppError = uncloneable
      ? { code: 'INVALID_ARGUMENT', message: 'The request could not be sent: it contains values that cannot be copied.', retryable: false }
      : { code: 'UNAVAILABLE', message: 'Spillway is not ready yet. Try again in a moment.', retryable: true };
    return { ok: false, error: appError };
  }
}
