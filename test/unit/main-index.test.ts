/**
 * Electron main's entry point, run under plain Node against a recording fake of the `electron` module:
 * start-up order, the hardened window, IPC over the real services, the opt-in local server and the quit.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { register } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CHANNELS, type Result } from '../../electron/contract/index.js';
import { appMenuTemplate } from '../../electron/main/menu.js';
import { mainWindowOptions } from '../../electron/main/window.js';
import type * as FakeElectron from '../fixtures/fake-electron.js';

let fake: typeof FakeElectron;
let dataDir: string;
let window: FakeElectron.BrowserWindow;

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True once nothing listens on the port any more (the stop is queued behind the settings event). */
async function refusesConnections(port: number): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v1/models`);
      await response.body?.cancel();
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

function invoke(channel: string, request: unknown, senderFrame: unknown = window.webContents.mainFrame): Promise<Result<any>> {
  const handler = fake.ipcMain.handlers.get(channel);
  assert.ok(handler, `no handler for ${channel}`);
  return handler({ sender: window.webContents, senderFrame }, request) as Promise<Result<any>>;
}

describe('Electron main entry point', () => {
  before(async () => {
    register('../support/fake-electron-loader.mjs', import.meta.url);
    dataDir = await mkdtemp(join(tmpdir(), 'spillway-main-'));
    process.env.SPILLWAY_DATA_DIR = dataDir;
    fake = await import('../fixtures/fake-electron.js');
    await import('../../electron/main/index.js');
    await waitFor(() => fake.calls.some((call) => call.startsWith('loadFile')), 'the window to load');
    window = fake.BrowserWindow.all[0]!;
  });

  after(async () => {
    delete process.env.SPILLWAY_DATA_DIR;
    await rm(dataDir, { recursive: true, force: true });
  });

  it('pins the data directory and sandboxes every renderer before taking the single-instance lock', () => {
    const lock = fake.calls.findIndex((call) => call.startsWith('requestSingleInstanceLock'));
    assert.ok(lock > fake.calls.indexOf('setPath userData'), fake.calls.join('\n'));
    assert.equal(fake.calls[lock], `requestSingleInstanceLock userData=${dataDir}`);
    assert.ok(fake.calls.indexOf('enableSandbox') > lock);
  });

  it('denies permissions in the default session before any window exists', () => {
    const permissions = fake.calls.indexOf('setPermissionRequestHandler');
    assert.ok(permissions >= 0 && permissions < fake.calls.indexOf('new BrowserWindow'), fake.calls.join('\n'));
    assert.ok(fake.calls.includes('setPermissionCheckHandler'));
    assert.ok(fake.calls.includes('setDevicePermissionHandler'));
  });

  it('replaces Electron’s default menu with the app’s own', () => {
    assert.ok(fake.calls.includes('setApplicationMenu'), fake.calls.join('\n'));
    assert.deepEqual(fake.Menu.applied?.template, appMenuTemplate(process.platform, { packaged: fake.app.isPackaged }));
  });

  it('opens one hardened window on the renderer’s index.html, shown once ready', () => {
    assert.equal(fake.BrowserWindow.all.length, 1);
    const preload = (window.options.webPreferences as { preload: string }).preload;
    assert.match(preload, /[/\\]preload[/\\]index\.cjs$/);
    assert.deepEqual(window.options, mainWindowOptions(preload));
    const load = fake.calls.find((call) => call.startsWith('loadFile'))!;
    assert.match(load, /[/\\]renderer[/\\]index\.html$/);
    assert.ok(fake.calls.includes('show'));
    // web-contents-created applied the link rules to the window.
    assert.deepEqual(window.webContents.windowOpenHandler?.({ url: 'https://example.com/' }), { action: 'deny' });
    assert.deepEqual(fake.shell.opened, ['https://example.com/']);
  });

  it('answers the app’s page over IPC with the real services, and nobody else', async () => {
    assert.equal(fake.ipcMain.handlers.size, CHANNELS.length);
    const info = await invoke('app:info', {});
    assert.deepEqual(info.ok && { version: info.value.version, mode: info.value.mode }, { version: '0.0.0-fake', mode: 'desktop' });
    const foreign = Object.assign(new fake.FakeFrame(), { url: 'https://evil.example/' });
    const refused = await invoke('app:info', {}, foreign);
    assert.equal(!refused.ok && refused.error.code, 'FORBIDDEN');
    const invalid = await invoke('chat:send', { content: '' });
    assert.equal(!invalid.ok && invalid.error.code, 'INVALID_ARGUMENT');
  });

  it('stores an endpoint key through safeStorage and pushes the settings change to the window', async () => {
    const endpoint = { name: 'OpenAI', preset: 'openai', baseURL: 'https://api.openai.com/v1', model: 'gpt-4o-mini', contextWindow: 128_000, tier: null, capabilities: { images: null, tools: null, embeddings: null }, enabled: true };
    assert.ok((await invoke('endpoints:save', { endpoint })).ok);
    const before = window.webContents.sent.length;
    const result = await invoke('endpoints:setKey', { id: 'openai', apiKey: 'sk-main-test-0123456789' });
    assert.deepEqual(result.ok && result.value.endpointKeys, ['openai']);
    const file = await readFile(join(dataDir, 'secrets.json'), 'utf8');
    assert.equal(file.includes('sk-main-test-0123456789'), false);
    assert.ok(window.webContents.sent.slice(before).some((sent) => sent.event === 'settings:update'));
  });

  it('starts and stops the local API server on 127.0.0.1 as the setting changes', async () => {
    const port = await freePort();
    const enabled = await invoke('settings:set', { patch: { server: { enabled: true, port } } });
    assert.ok(enabled.ok, JSON.stringify(enabled));
    await waitFor(() => window.webContents.sent.some((sent) => sent.event === 'notice' && String((sent.payload as { message: string }).message).includes(`127.0.0.1:${port}`)), 'the server notice');
    const response = await fetch(`http://127.0.0.1:${port}/v1/models`);
    assert.ok(response.status > 0);
    await response.body?.cancel();

    const disabled = await invoke('settings:set', { patch: { server: { enabled: false } } });
    assert.ok(disabled.ok);
    assert.ok(await refusesConnections(port), 'the server stopped listening');
  });

  it('focuses the existing window when a second instance starts', () => {
    const focused = window.focused;
    fake.app.emit('second-instance');
    assert.equal(window.focused, focused + 1);
    assert.equal(fake.BrowserWindow.all.length, 1);
  });

  it('holds the quit once for a clean shutdown, then exits', async () => {
    fake.app.quit();
    assert.equal(await fake.app.whenExited(), 0);
    assert.equal(fake.ipcMain.handlers.size, 0, 'IPC handlers are removed');
    const exits = fake.calls.filter((call) => call.startsWith('exit'));
    assert.deepEqual(exits, ['exit 0']);
  });
});
