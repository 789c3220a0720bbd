import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent, WebContents, WebFrameMain } from 'electron';
import { CHANNELS, type Channel, type EventName, type Events, type Result } from '../../electron/contract/index.js';
import { registerIpc, trustedFrameCheck, type IpcDependencies } from '../../electron/main/ipc.js';
import { appPageMatcher } from '../../electron/main/security.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';

const rendererIndex = join(tmpdir(), 'spillway-app', 'dist', 'renderer', 'index.html');
const APP_URL = pathToFileURL(rendererIndex).href;

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

class FakeIpcMain {
  readonly handlers = new Map<string, Handler>();
  handle = (channel: string, handler: Handler): void => {
    assert.equal(this.handlers.has(channel), false, `${channel} registered twice`);
    this.handlers.set(channel, handler);
  };
  removeHandler = (channel: string): void => {
    this.handlers.delete(channel);
  };
}

interface FakeFrame {
  url: string;
  parent: FakeFrame | null;
  detached: boolean;
  isDestroyed(): boolean;
}

function frame(url: string, parent: FakeFrame | null = null): FakeFrame {
  return { url, parent, detached: false, isDestroyed: () => false };
}

class FakeWebContents {
  readonly sent: Array<{ event: string; payload: unknown }> = [];
  destroyed = false;
  crashed = false;
  constructor(public mainFrame: FakeFrame) {}
  isDestroyed = (): boolean => this.destroyed;
  isCrashed = (): boolean => this.crashed;
  send = (event: string, payload: unknown): void => {
    this.sent.push({ event, payload });
  };
}

class FakeWindow {
  destroyed = false;
  constructor(readonly webContents: FakeWebContents) {}
  isDestroyed = (): boolean => this.destroyed;
}

/** A services double that records calls and lets tests emit events. */
class SpyServices {
  readonly calls: Array<{ channel: Channel; raw: unknown }> = [];
  private readonly listeners = new Set<(event: EventName, payload: unknown) => void>();
  constructor(private readonly inner?: Pick<Services, 'call'>) {}

  call = async (channel: Channel, raw: unknown): Promise<Result<unknown>> => {
    this.calls.push({ channel, raw });
    if (this.inner) return this.inner.call(channel, raw);
    return { ok: true, value: { echoed: channel } };
  };

  onAny = (listener: (event: EventName, payload: unknown) => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  emit<E extends EventName>(event: E, payload: Events[E]): void {
    for (const listener of this.listeners) listener(event, payload);
  }
}

interface Harness {
  ipc: FakeIpcMain;
  services: SpyServices;
  window: FakeWindow;
  logs: string[];
  unregister: () => void;
  invoke(channel: string, request: unknown, from?: { sender?: unknown; senderFrame?: unknown }): Promise<Result<unknown>>;
}

function harness(inner?: Pick<Services, 'call'>): Harness {
  const ipc = new FakeIpcMain();
  const services = new SpyServices(inner);
  const window = new FakeWindow(new FakeWebContents(frame(`${APP_URL}#/chat`)));
  const logs: string[] = [];
  const isTrustedFrame = trustedFrameCheck({
    isAppPage: appPageMatcher(rendererIndex),
    getMainWindow: () => window as unknown as BrowserWindow,
  });
  const unregister = registerIpc({
    ipcMain: ipc as unknown as Pick<IpcMain, 'handle' | 'removeHandler'>,
    services: services as unknown as IpcDependencies['services'],
    isTrustedFrame,
    getWindows: () => [window as unknown as BrowserWindow],
    log: (message) => logs.push(message),
  });
  return {
    ipc,
    services,
    window,
    logs,
    unregister,
    async invoke(channel, request, from = {}) {
      const handler = ipc.handlers.get(channel);
      assert.ok(handler, `no handler for ${channel}`);
      const event = {
        sender: 'sender' in from ? from.sender : window.webContents,
        senderFrame: 'senderFrame' in from ? from.senderFrame : window.webContents.mainFrame,
      } as unknown as IpcMainInvokeEvent;
      return (await handler(event, request)) as Result<unknown>;
    },
  };
}

/** Asserts the error crossed as plain data: no prototype, no stack, survives cloning unchanged. */
function assertPlainError(result: Result<unknown>, code: string): void {
  assert.equal(result.ok, false, `expected ${code}, got ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.error.code, code);
  assert.equal(Object.getPrototypeOf(result.error), Object.prototype);
  assert.equal(typeof result.error.message, 'string');
  assert.equal(typeof result.error.retryable, 'boolean');
  for (const key of Object.keys(result.error)) assert.ok(['code', 'message', 'retryable', 'field'].includes(key), key);
  assert.deepEqual(structuredClone(result), result);
  assert.deepEqual(JSON.parse(JSON.stringify(result)), result);
}

describe('IPC adapter', () => {
  it('registers one handler per contract channel and removes them all on unregister', () => {
    const h = harness();
    assert.deepEqual([...h.ipc.handlers.keys()].sort(), [...CHANNELS].sort());
    h.unregister();
    assert.equal(h.ipc.handlers.size, 0);
  });

  it('passes a call from the app’s own top frame to the services', async () => {
    const h = harness();
    const result = await h.invoke('conversations:get', { id: 'abc' });
    assert.deepEqual(result, { ok: true, value: { echoed: 'conversations:get' } });
    assert.deepEqual(h.services.calls, [{ channel: 'conversations:get', raw: { id: 'abc' } }]);
  });

  const foreign: Array<[string, (h: Harness) => { sender?: unknown; senderFrame?: unknown }]> = [
    ['a remote page', () => ({ senderFrame: frame('https://evil.example/index.html') })],
    ['another local file', () => ({ senderFrame: frame(pathToFileURL(join(tmpdir(), 'downloaded.html')).href) })],
    ['a file URL on another host', () => ({ senderFrame: frame(APP_URL.replace('file:///', 'file://attacker/')) })],
    ['a data: URL', () => ({ senderFrame: frame('data:text/html,<script>spillway.settingsSetApiKey()</script>') })],
    ['a subframe of the app page', (h) => ({ senderFrame: frame(APP_URL, h.window.webContents.mainFrame) })],
    ['a null frame (navigated away or gone)', () => ({ senderFrame: null })],
    ['a detached frame', () => ({ senderFrame: { ...frame(APP_URL), detached: true } })],
    ['a destroyed frame', () => ({ senderFrame: { ...frame(APP_URL), isDestroyed: () => true } })],
    ['another webContents showing the app page', () => ({ sender: new FakeWebContents(frame(APP_URL)) })],
  ];
  for (const [name, from] of foreign) {
    it(`refuses a call from ${name} with FORBIDDEN and never reaches the services`, async () => {
      const h = harness();
      const result = await h.invoke('endpoints:setKey', { id: 'cloud', apiKey: 'sk-test-do-not-log-1234' }, from(h));
      assertPlainError(result, 'FORBIDDEN');
      assert.equal(h.services.calls.length, 0);
      assert.equal(h.logs.length, 1);
      assert.doesNotMatch(h.logs.join('\n'), /sk-test-do-not-log-1234/);
    });
  }

  it('refuses every call once the main window is gone', async () => {
    const h = harness();
    h.window.destroyed = true;
    assertPlainError(await h.invoke('app:info', {}), 'FORBIDDEN');
    assert.equal(h.services.calls.length, 0);
  });

  it('turns a failure inside the adapter into INTERNAL data rather than a thrown error', async () => {
    const h = harness({
      call: () => {
        throw new TypeError('boom');
      },
    } as unknown as Pick<Services, 'call'>);
    const result = await h.invoke('app:info', {});
    assertPlainError(result, 'INTERNAL');
    assert.doesNotMatch(JSON.stringify(result), /boom|TypeError/);
  });

  it('forwards service events to the app window only while it is alive and showing the app', () => {
    const h = harness();
    const wc = h.window.webContents;
    const delta = { requestId: 'r1', conversationId: 'c1', text: 'Hi' };
    h.services.emit('chat:delta', delta);
    assert.deepEqual(wc.sent, [{ event: 'chat:delta', payload: delta }]);

    wc.mainFrame = frame('https://evil.example/');
    h.services.emit('chat:delta', delta);
    wc.mainFrame = frame(APP_URL);
    wc.crashed = true;
    h.services.emit('chat:delta', delta);
    wc.crashed = false;
    wc.destroyed = true;
    h.services.emit('chat:delta', delta);
    wc.destroyed = false;
    h.window.destroyed = true;
    h.services.emit('chat:delta', delta);
    assert.equal(wc.sent.length, 1);

    h.window.destroyed = false;
    h.unregister();
    h.services.emit('chat:delta', delta);
    assert.equal(wc.sent.length, 1);
  });
});

describe('IPC adapter over the real services', () => {
  let dataDir: string;
  let services: Services;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'spillway-ipc-'));
    services = await createServices({ dataDir, mode: 'desktop', version: '0.0.0-test', secrets: new MemorySecretStore() });
  });

  after(async () => {
    await services.shutdown();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers a valid call with the service’s value', async () => {
    const h = harness(services);
    const result = await h.invoke('app:info', {});
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok && { version: (result.value as { version: string }).version, mode: (result.value as { mode: string }).mode }, {
      version: '0.0.0-test',
      mode: 'desktop',
    });
  });

  const invalid: Array<[Channel, unknown, string | undefined]> = [
    ['chat:send', { content: '   ' }, 'content'],
    ['chat:send', { content: 'hi', extra: true }, undefined],
    ['conversations:get', { id: '../../etc/passwd' }, 'id'],
    ['settings:set', { patch: { server: { port: 80 } } }, 'patch.server.port'],
    ['endpoints:save', { endpoint: { name: 'x', preset: 'custom', baseURL: 'javascript:alert(1)', model: 'm', contextWindow: 1000, tier: null, capabilities: { images: null, tools: null, embeddings: null }, enabled: true } }, 'endpoint.baseURL'],
    ['router:setStrategy', { strategy: 'yolo' }, 'strategy'],
    ['app:info', 'not an object', undefined],
  ];
  for (const [channel, request, field] of invalid) {
    it(`answers ${channel} ${JSON.stringify(request)} with INVALID_ARGUMENT as plain data`, async () => {
      const h = harness(services);
      const result = await h.invoke(channel, request);
      assertPlainError(result, 'INVALID_ARGUMENT');
      if (field && !result.ok) assert.equal(result.error.field, field);
    });
  }

  it('still refuses a foreign frame before validation', async () => {
    const h = harness(services);
    assertPlainError(await h.invoke('chat:send', { content: 'hi' }, { senderFrame: frame('https://evil.example/') }), 'FORBIDDEN');
    assert.equal(h.services.calls.length, 0);
  });
});
