/**
 * The only file that knows how the renderer reaches the app: `window.spillway` in the desktop app (the
 * preload bridge), HTTP + server-sent events in headless mode. Everything else takes a `SpillwayApi`, so
 * tests pass a fake.
 */
import { apiName, CHANNELS, EVENTS, type Channel, type EventName, type Events, type Result, type SpillwayApi } from '../../../electron/contract/index.js';

declare global {
  interface Window {
    spillway?: SpillwayApi;
  }
}

/** The desktop bridge when present, else the HTTP client for the server that served this page. */
export function connect(): SpillwayApi {
  return window.spillway ?? createHttpApi(new URL('./', window.location.href).toString());
}

/** The contract over HTTP: `POST api/<channel>` returns the Result; `GET api/events` streams events. */
export function createHttpApi(base: string): SpillwayApi {
  const api: Record<string, unknown> = {};
  for (const channel of CHANNELS) {
    api[apiName(channel)] = (request: unknown) => post(base, channel, request);
  }
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  let source: EventSource | null = null;
  const ensureSource = (): void => {
    if (source) return;
    source = new EventSource(new URL('api/events', base));
    for (const event of EVENTS) {
      source.addEventListener(event, (message) => {
        const payload = JSON.parse((message as MessageEvent<string>).data) as never;
        for (const listener of listeners.get(event) ?? []) listener(payload);
      });
    }
  };
  api.on = <E extends EventName>(event: E, listener: (payload: Events[E]) => void): (() => void) => {
    if (!EVENTS.includes(event)) throw new Error(`Unknown event ${event}`);
    ensureSource();
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  };
  return api as SpillwayApi;
}

async function post(base: string, channel: Channel, request: unknown): Promise<Result<unknown>> {
  try {
    const response = await fetch(new URL(`api/${channel}`, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request ?? {}),
    });
    return (await response.json()) as Result<unknown>;
  } catch (error) {
    return {
      ok: false,
      error: { code: 'UNAVAILABLE', message: `Spillway's server did not answer: ${error instanceof Error ? error.message : String(error)}`, retryable: true },
    };
  }
}
