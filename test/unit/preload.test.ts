import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { apiName, CHANNELS, EVENTS, type Result, type SpillwayApi } from '../../electron/contract/index.js';
import { buildApi, type BridgeIpc } from '../../electron/preload/api.js';

type Listener = (event: unknown, ...args: unknown[]) => void;

/** An ipcRenderer stand-in that records invokes and lets the test emit events from "main". */
class FakeIpcRenderer {
  readonly invoked: Array<{ channel: string; args: unknown[] }> = [];
  readonly listeners = new Map<string, Set<Listener>>();
  reply: (channel: string, request: unknown) => unknown = (channel) => ({ ok: true, value: { channel } });

  invoke = async (channel: string, ...args: unknown[]): Promise<unknown> => {
    this.invoked.push({ channel, args });
    return this.reply(channel, args[0]);
  };

  on = (channel: string, listener: Listener): this => {
    if (!this.listeners.has(channel)) this.listeners.set(channel, new Set());
    this.listeners.get(channel)!.add(listener);
    return this;
  };

  removeListener = (channel: string, listener: Listener): this => {
    this.listeners.get(channel)?.delete(listener);
    return this;
  };

  emit(channel: string, payload: unknown): void {
    const senderOnlyMainMayHold = { sender: { invoke: this.invoke, send: () => {} } };
    for (const listener of this.listeners.get(channel) ?? []) listener(senderOnlyMainMayHold, payload);
  }

  count(channel: string): number {
    return this.listeners.get(channel)?.size ?? 0;
  }
}

function setup(): { ipc: FakeIpcRenderer; api: SpillwayApi } {
  const ipc = new FakeIpcRenderer();
  return { ipc, api: buildApi(ipc as unknown as BridgeIpc) };
}

describe('preload bridge', () => {
  it('exposes exactly one function per contract channel, plus on', () => {
    const { api } = setup();
    const expected = [...CHANNELS.map((channel) => apiName(channel)), 'on'].sort();
    assert.deepEqual(Object.keys(api).sort(), expected);
    for (const key of Object.keys(api)) assert.equal(typeof (api as Record<string, unknown>)[key], 'function', key);
    // No generic escape hatch under any name.
    for (const forbidden of ['invoke', 'send', 'ipcRenderer', 'sendSync', 'postMessage']) assert.equal(forbidden in api, false, forbidden);
  });

  it('sends each function to its own channel with the request, and returns main’s Result', async () => {
    const { ipc, api } = setup();
    for (const channel of CHANNELS) {
      const request = { probe: channel };
      const fn = (api as unknown as Record<string, (request: unknown) => Promise<Result<unknown>>>)[apiName(channel)]!;
      const result = await fn(request);
      const last = ipc.invoked.at(-1)!;
      assert.equal(last.channel, channel);
      assert.deepEqual(last.args, [request]);
      assert.deepEqual(result, { ok: true, value: { channel } });
    }
    assert.equal(ipc.invoked.length, CHANNELS.length);
  });

  it('turns an IPC failure into Result data instead of a rejected promise', async () => {
    const { ipc, api } = setup();
    ipc.reply = () => {
      throw new Error("Error invoking remote method 'app:info': Error: No handler registered for 'app:info'");
    };
    const result = await api.appInfo({});
    assert.equal(result.ok, false);
    assert.deepEqual(Object.keys(result.ok ? {} : result.error).sort(), ['code', 'message', 'retryable']);
    assert.equal(!result.ok && result.error.code, 'UNAVAILABLE');

    ipc.reply = () => {
      throw new Error('An object could not be cloned.');
    };
    const uncloneable = await api.chatSend({ content: 'hi' });
    assert.equal(!uncloneable.ok && uncloneable.error.code, 'INVALID_ARGUMENT');
  });

  it('on() delivers only the payload, for known events, and unsubscribes', () => {
    const { ipc, api } = setup();
    const received: unknown[][] = [];
    const off = api.on('chat:delta', (...args: unknown[]) => received.push(args));
    const payload = { requestId: 'r1', conversationId: 'c1', text: 'Hel' };
    ipc.emit('chat:delta', payload);
    assert.deepEqual(received, [[payload]], 'the listener gets the payload alone, never the IPC event');

    off();
    assert.equal(ipc.count('chat:delta'), 0);
    ipc.emit('chat:delta', payload);
    assert.equal(received.length, 1);
    off(); // a second call is harmless
  });

  it('on() accepts every contract event and nothing else', () => {
    const { ipc, api } = setup();
    for (const event of EVENTS) api.on(event, () => {})();
    const on = api.on as (event: string, listener: (payload: unknown) => void) => () => void;
    for (const unknown of ['app:info', 'chat:send', 'ELECTRON_BROWSER_REQUIRE', '', '__proto__']) {
      assert.throws(() => on(unknown, () => {}), TypeError, unknown);
    }
    assert.throws(() => on('chat:delta', 'not a function' as unknown as () => void), TypeError);
    assert.equal([...ipc.listeners.values()].reduce((n, set) => n + set.size, 0), 0);
  });
});

describe('preload bundle', () => {
  it('is one small CommonJS file whose only import is electron (a sandboxed preload can load nothing else)', async () => {
    // The same options as scripts/build-preload.mjs, kept in memory.
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../electron/preload/index.ts', import.meta.url))],
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      external: ['electron'],
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((match) => match[1]);
    assert.deepEqual([...new Set(required)], ['electron']);
    assert.match(code, /exposeInMainWorld\("spillway"/);
    assert.ok(code.length < 16_000, `preload bundle is ${code.length} bytes`);
  });
});
