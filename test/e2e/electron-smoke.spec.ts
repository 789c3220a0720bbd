/**
 * Smoke test of the built desktop app in real Electron: the window opens, the page has no Node, the bridge
 * exposes exactly the contract, and a chat message round-trips (answered by a fake OpenAI-compatible
 * server, since no local model is configured). Runs with `npm run test:electron` wherever the Electron
 * binary and playwright-core are installed; elsewhere every test is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ElectronApplication, Page } from 'playwright-core';
import { apiName, CHANNELS } from '../../electron/contract/index.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const REPLY = 'Hello from the fake cloud.';

/** Why this machine cannot run the test, or null when it can. */
function missingPrerequisite(): string | null {
  const require = createRequire(import.meta.url);
  let electronDir: string;
  try {
    electronDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return 'the electron package is not installed';
  }
  const pathFile = join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return `no Electron binary (${pathFile} is missing; it is written when the binary downloads)`;
  const binary = join(electronDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(binary)) return `no Electron binary at ${binary}`;
  for (const built of ['dist/electron/main/index.js', 'dist/electron/preload/index.cjs', 'dist/renderer/index.html']) {
    if (!existsSync(join(root, built))) return `the app is not built (${built} is missing; run npm run build)`;
  }
  return null;
}

type PlaywrightElectron = (typeof import('playwright-core'))['_electron'];

/** playwright-core's Electron driver, loaded only where Electron can run. */
async function loadPlaywrightElectron(): Promise<PlaywrightElectron | string> {
  try {
    return (await import('playwright-core'))._electron;
  } catch {
    return 'playwright-core is not installed (npm i -D playwright-core)';
  }
}

const missing = missingPrerequisite();
const electron = missing ? missing : await loadPlaywrightElectron();
const skip = typeof electron === 'string' ? `Electron smoke test skipped: ${electron}` : false;
if (skip) console.log(skip);

describe('desktop app in Electron', { skip }, () => {
  let app: ElectronApplication;
  let page: Page;
  let dataDir: string;
  let cloud: FakeOpenAIServer;

  before(async () => {
    cloud = await startFakeOpenAI({ reply: REPLY });
    dataDir = await mkdtemp(join(tmpdir(), 'spillway-e2e-'));
    app = await (electron as PlaywrightElectron).launch({
      args: [root],
      cwd: root,
      env: { ...(process.env as Record<string, string>), SPILLWAY_DATA_DIR: dataDir },
      timeout: 60_000,
    });
    page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
  });

  after(async () => {
    await app?.close();
    await cloud?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  // Callbacks given to page.evaluate run in the page from their source text: keep named function
  // expressions out of them, since tsx's keepNames would wrap those in a __name helper the page lacks.

  it('opens the app page from a file URL', () => {
    assert.match(page.url(), /^file:.*\/renderer\/index\.html/);
  });

  it('gives the page no Node: no require, no process, no module', async () => {
    const globals = await page.evaluate(() => {
      const w = globalThis as Record<string, unknown>;
      return { require: typeof w.require, process: typeof w.process, module: typeof w.module, Buffer: typeof w.Buffer };
    }, undefined);
    assert.deepEqual(globals, { require: 'undefined', process: 'undefined', module: 'undefined', Buffer: 'undefined' });
  });

  it('exposes exactly the contract on window.spillway', async () => {
    const keys = await page.evaluate(() => Object.keys((globalThis as unknown as { spillway: object }).spillway).sort(), undefined);
    assert.deepEqual(keys, [...CHANNELS.map((channel) => apiName(channel)), 'on'].sort());
  });

  it('round-trips a chat message and streams the answer back', async () => {
    const outcome = await page.evaluate(
      async ({ baseURL }) => {
        const api = (globalThis as unknown as { spillway: import('../../electron/contract/index.js').SpillwayApi }).spillway;
        const endpoint = { id: 'cloud', name: 'Fake cloud', preset: 'custom' as const, baseURL, model: 'fake-model', contextWindow: 128_000, tier: null, capabilities: { images: null, tools: null, embeddings: null }, learned: {}, enabled: true };
        const configured = await api.settingsSet({ patch: { endpoints: [endpoint] } });
        if (!configured.ok) return { error: configured.error };
        let streamed = '';
        const offDelta = api.on('chat:delta', (delta) => {
          streamed += delta.text;
        });
        const done = new Promise<import('../../electron/contract/index.js').Events['chat:done']>((resolve) => {
          const off = api.on('chat:done', (event) => {
            off();
            resolve(event);
          });
        });
        const sent = await api.chatSend({ content: 'Say hello.' });
        if (!sent.ok) return { error: sent.error };
        const finished = await done;
        offDelta();
        const stored = await api.conversationsGet({ id: sent.value.conversationId });
        return { sent: sent.value, finished, streamed, stored: stored.ok ? stored.value.messages.map((m) => [m.role, m.content]) : stored.error };
      },
      { baseURL: cloud.baseURL },
    );
    assert.ok(!('error' in outcome), JSON.stringify(outcome));
    assert.equal(outcome.finished.requestId, outcome.sent.requestId);
    assert.equal(outcome.finished.result.ok, true, JSON.stringify(outcome.finished.result));
    assert.equal(outcome.finished.result.ok && outcome.finished.result.value.content, REPLY);
    assert.equal(outcome.streamed, REPLY);
    assert.deepEqual(outcome.stored, [
      ['user', 'Say hello.'],
      ['assistant', REPLY],
    ]);
    assert.equal(cloud.chatRequests().length, 1);
  });
});
