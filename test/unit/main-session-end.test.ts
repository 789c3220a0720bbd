/**
 * Electron main's entry point (under plain Node, `electron` faked) ending with a Windows log-off while an
 * answer streams: the answer is stopped and its partial text saved, as on a quit; the data folder's
 * lock, taken at start, is given back.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Result } from '../../electron/contract/index.js';
import { LOCK_FILE } from '../../electron/services/data-lock.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import type * as FakeElectron from '../fixtures/fake-electron.js';

let fake: typeof FakeElectron;
let dataDir: string;
let cloud: FakeOpenAIServer;

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Electron main on a Windows log-off', () => {
  before(async () => {
    cloud = await startFakeOpenAI({ reply: 'one two three four five six', faults: [{ kind: 'hang', afterChunks: 2 }] });
    register('../support/fake-electron-loader.mjs', import.meta.url);
    dataDir = await mkdtemp(join(tmpdir(), 'spillway-session-end-'));
    process.env.SPILLWAY_DATA_DIR = dataDir;
    fake = await import('../fixtures/fake-electron.js');
    await import('../../electron/main/index.js');
    await waitFor(() => fake.calls.some((call) => call.startsWith('loadFile')), 'the window to load');
  });

  after(async () => {
    delete process.env.SPILLWAY_DATA_DIR;
    await cloud?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('holds the data folder’s lock while running, and keeps Chromium’s session data inside the chosen folder', () => {
    const owner = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number; mode: string };
    assert.deepEqual({ pid: owner.pid, mode: owner.mode }, { pid: process.pid, mode: 'desktop' });
    assert.equal(fake.app.getPath('userData'), dataDir);
    assert.equal(fake.app.getPath('sessionData'), join(dataDir, 'session'));
  });

  it('saves the answer being written, then exits and gives the folder back', { timeout: 20_000 }, async () => {
    const window = fake.BrowserWindow.all[0]!;
    const invoke = (channel: string, request: unknown): Promise<Result<any>> =>
      fake.ipcMain.handlers.get(channel)!({ sender: window.webContents, senderFrame: window.webContents.mainFrame }, request) as Promise<Result<any>>;
    const configured = await invoke('settings:set', { patch: { endpoints: [endpoint(cloud.baseURL, 'fake-model')] } });
    assert.ok(configured.ok, JSON.stringify(configured));
    const sent = await invoke('chat:send', { content: 'Count.' });
    assert.ok(sent.ok, JSON.stringify(sent));
    const streamed = (): string =>
      window.webContents.sent
        .filter((message) => message.event === 'chat:delta')
        .map((message) => (message.payload as { text: string }).text)
        .join('');
    await waitFor(() => streamed().length > 0, 'the first words of the answer');

    window.emit('session-end', new fake.FakeEvent());
    assert.equal(await fake.app.whenExited(), 0);

    const files = readdirSync(join(dataDir, 'conversations')).filter((name) => name.endsWith('.json'));
    assert.equal(files.length, 1, files.join(', '));
    const conversation = JSON.parse(readFileSync(join(dataDir, 'conversations', files[0]!), 'utf8')) as { messages: Array<{ role: string; content: string; meta?: { stopReason: string } }> };
    const answer = conversation.messages.find((message) => message.role === 'assistant');
    assert.ok(answer, JSON.stringify(conversation));
    assert.equal(answer.content, streamed(), 'the partial text is saved');
    assert.equal(answer.meta?.stopReason, 'aborted', 'and marked as stopped');
    assert.equal(existsSync(join(dataDir, LOCK_FILE)), false, 'the lock is released');
  });
});
