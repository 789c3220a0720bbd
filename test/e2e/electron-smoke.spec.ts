/**
 * The desktop app in real Electron. `npm run test:electron` runs it from source (`electron .` with the
 * binary `npm start` fetches); with SPILLWAY_ELECTRON_APP=<packed executable> (release/linux-unpacked/
 * spillway, …/Spillway.app/Contents/MacOS/Spillway, …/win-unpacked/Spillway.exe) it runs the packaged app
 * as installed: its asar, unpacked node-llama-cpp binaries and flipped fuses.
 *
 * Both: the window opens on the app's page, the page has no Node, the bridge exposes exactly the
 * contract, a chat round-trips through a fake cloud, a generated GGUF answers locally through the
 * utilityProcess inference host, the app quits cleanly (exit 0, host gone, data folder unlocked), and
 * after a kill -9 of main no inference host is left running.
 *
 * The app is driven over the Chrome DevTools Protocol (--remote-debugging-port) with Playwright's
 * connectOverCDP. Playwright's _electron.launch also needs Node's --inspect in the main process, which
 * the packaged app refuses by design (fuse nodeCliInspect off), so it could not drive what ships.
 *
 * Without an Electron binary the tests are skipped with the reason; SPILLWAY_REQUIRE_ELECTRON=1 (the
 * desktop workflow) makes that a failure.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { apiName, CHANNELS, type Events, type SpillwayApi } from '../../electron/contract/index.js';
import { LOCK_FILE } from '../../electron/services/data-lock.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { expectedAnswer, writeBigramModel } from '../fixtures/gguf-writer.js';
import { isRunning, until } from '../fixtures/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const REPLY = 'Hello from the fake cloud.';
const LOCAL_ANSWER = expectedAnswer();
const packaged = process.env.SPILLWAY_ELECTRON_APP ? resolve(process.env.SPILLWAY_ELECTRON_APP) : null;
const required = process.env.SPILLWAY_REQUIRE_ELECTRON === '1';
const slow = { timeout: 180_000 };

/** The executable to start, or why there is none. */
function executable(): { path: string } | { missing: string } {
  if (packaged) return existsSync(packaged) ? { path: packaged } : { missing: `SPILLWAY_ELECTRON_APP names ${packaged}, which does not exist` };
  let electronDir: string;
  try {
    electronDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { missing: 'the electron package is not installed' };
  }
  const pathFile = join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return { missing: `no Electron binary yet (${pathFile} is missing; \`npm start\` or \`node scripts/ensure-electron.mjs\` fetches it)` };
  const binary = join(electronDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(binary)) return { missing: `no Electron binary at ${binary}` };
  for (const built of ['dist/electron/main/index.js', 'dist/electron/preload/index.cjs', 'dist/renderer/index.html']) {
    if (!existsSync(join(root, built))) return { missing: `the app is not built (${built} is missing; run npm run build)` };
  }
  return { path: binary };
}

interface Running {
  main: ChildProcess;
  browser: Browser;
  page: Page;
  exited: Promise<number | null>;
  output: () => string;
}

/** Starts the app with a debugging port and attaches Playwright to its window. */
async function launch(binary: string, dataDir: string): Promise<Running> {
  const { chromium } = await import('playwright-core');
  const args = [...(packaged ? [] : [root]), '--remote-debugging-port=0'];
  // Chromium refuses to run as root with its sandbox on; everyone else gets the sandbox users get.
  if (process.platform === 'linux' && process.getuid?.() === 0) args.push('--no-sandbox');
  const main = spawn(binary, args, { cwd: root, env: { ...process.env, SPILLWAY_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  main.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => main.once('exit', (code) => resolve(code)));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no DevTools endpoint after 60 s:\n${output}`)), 60_000);
    main.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`the app exited with ${code} before its window opened:\n${output}`)));
  });
  const browser = await chromium.connectOverCDP(endpoint);
  const context = browser.contexts()[0]!;
  const page = context.pages().find((candidate) => candidate.url().includes('index.html')) ?? (await context.waitForEvent('page', { timeout: 60_000 }));
  await page.waitForLoadState('domcontentloaded');
  return { main, browser, page, exited, output: () => output };
}

/** Every process below `pid`, with its command line. */
function descendants(pid: number): Array<{ pid: number; command: string }> {
  let rows: Array<{ pid: number; ppid: number; command: string }>;
  if (process.platform === 'win32') {
    const json = execFileSync('powershell.exe', ['-NoProfile', '-Command', 'Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,CommandLine | ConvertTo-Json -Compress'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    rows = (JSON.parse(json) as Array<{ ProcessId: number; ParentProcessId: number; CommandLine: string | null }>).map((row) => ({ pid: row.ProcessId, ppid: row.ParentProcessId, command: row.CommandLine ?? '' }));
  } else {
    rows = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,args='], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => ({ pid: Number(match[1]), ppid: Number(match[2]), command: match[3]! }));
  }
  const found: Array<{ pid: number; command: string }> = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const row of rows.filter((candidate) => candidate.ppid === parent)) {
      found.push({ pid: row.pid, command: row.command });
      queue.push(row.pid);
    }
  }
  return found;
}

/** The utilityProcess running Node (the inference host) under main. */
const inferenceHosts = (mainPid: number): number[] => descendants(mainPid).filter((child) => child.command.includes('node.mojom.NodeService')).map((child) => child.pid);

type ChatOutcome = { error: unknown } | { done: Events['chat:done']; streamed: string; stored: unknown };

/** Sends one message through window.spillway and waits for its chat:done. Runs in the page. */
function chat(page: Page, content: string): Promise<ChatOutcome> {
  // Runs in the page from its source text: no named function expressions (tsx would wrap them in a
  // __name helper the page lacks).
  return page.evaluate(async (message) => {
    const api = (globalThis as unknown as { spillway: SpillwayApi }).spillway;
    let streamed = '';
    const offDelta = api.on('chat:delta', (delta) => {
      streamed += delta.text;
    });
    const done = new Promise<Events['chat:done']>((resolve) => {
      const off = api.on('chat:done', (event) => {
        off();
        resolve(event);
      });
    });
    const sent = await api.chatSend({ content: message });
    if (!sent.ok) return { error: sent.error };
    const finished = await done;
    offDelta();
    const stored = await api.conversationsGet({ id: sent.value.conversationId });
    return { done: finished, streamed, stored: stored.ok ? stored.value.messages.map((m) => [m.role, m.content]) : stored.error };
  }, content);
}

const target = executable();
const missing = 'missing' in target ? target.missing : null;

if (missing && required) {
  describe('desktop app in Electron', () => {
    it('has an Electron binary to run (SPILLWAY_REQUIRE_ELECTRON=1)', () => assert.fail(missing));
  });
} else {
  if (missing) console.log(`Electron smoke test skipped: ${missing}`);

  describe(packaged ? `packaged app ${packaged}` : 'desktop app from source', { skip: missing ?? false }, () => {
    let app: Running;
    let cloud: FakeOpenAIServer;
    let dataDir: string;
    let modelPath: string;

    before(async () => {
      cloud = await startFakeOpenAI({ reply: REPLY });
      dataDir = mkdtempSync(join(tmpdir(), 'spillway-electron-'));
      modelPath = writeBigramModel(join(dataDir, 'answer.gguf'), { name: 'answer-model' });
      app = await launch((target as { path: string }).path, dataDir);
    });

    after(async () => {
      await app?.browser.close().catch(() => {});
      if (app && app.main.exitCode === null) app.main.kill('SIGKILL');
      await cloud?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('opens the app page from a file URL', () => {
      assert.match(app.page.url(), packaged ? /^file:.*app\.asar\/dist\/renderer\/index\.html/ : /^file:.*\/dist\/renderer\/index\.html/);
    });

    it('gives the page no Node: no require, no process, no module', async () => {
      const globals = await app.page.evaluate(() => {
        const w = globalThis as Record<string, unknown>;
        return { require: typeof w.require, process: typeof w.process, module: typeof w.module, Buffer: typeof w.Buffer };
      });
      assert.deepEqual(globals, { require: 'undefined', process: 'undefined', module: 'undefined', Buffer: 'undefined' });
    });

    it('exposes exactly the contract on window.spillway', async () => {
      const keys = await app.page.evaluate(() => Object.keys((globalThis as unknown as { spillway: object }).spillway).sort());
      assert.deepEqual(keys, [...CHANNELS.map((channel) => apiName(channel)), 'on'].sort());
    });

    it('round-trips a chat message through the cloud and streams the answer back', slow, async () => {
      const configured = await app.page.evaluate(
        (baseURL) =>
          (globalThis as unknown as { spillway: SpillwayApi }).spillway.settingsSet({
            patch: {
              endpoints: [
                { id: 'cloud', name: 'Fake cloud', preset: 'custom', baseURL, model: 'fake-model', contextWindow: 128_000, tier: null, capabilities: { images: null, tools: null, embeddings: null }, learned: {}, enabled: true },
              ],
            },
          }),
        cloud.baseURL,
      );
      assert.ok(configured.ok, JSON.stringify(configured));
      const outcome = await chat(app.page, 'Say hello.');
      assert.ok('done' in outcome, JSON.stringify(outcome));
      assert.equal(outcome.done.result.ok && outcome.done.result.value.content, REPLY, JSON.stringify(outcome.done.result));
      assert.equal(outcome.streamed, REPLY);
      assert.deepEqual(outcome.stored, [
        ['user', 'Say hello.'],
        ['assistant', REPLY],
      ]);
      assert.equal(cloud.chatRequests().length, 1);
    });

    it('answers from a local GGUF model through the utilityProcess inference host', slow, async () => {
      const configured = await app.page.evaluate(async (path) => {
        const api = (globalThis as unknown as { spillway: SpillwayApi }).spillway;
        const model = await api.settingsSet({ patch: { local: { modelPath: path } } });
        const strategy = await api.routerSetStrategy({ strategy: 'local-only' });
        return { model, strategy };
      }, modelPath);
      assert.ok(configured.model.ok && configured.strategy.ok, JSON.stringify(configured));
      const outcome = await chat(app.page, 'Who are you?');
      assert.ok('done' in outcome, JSON.stringify(outcome));
      assert.ok(outcome.done.result.ok, `${JSON.stringify(outcome.done.result)}\n${app.output()}`);
      assert.equal(outcome.done.result.value.content, LOCAL_ANSWER);
      assert.equal(outcome.done.result.value.meta?.entryKind, 'local');
      assert.equal(inferenceHosts(app.main.pid!).length, 1, 'one inference host runs under main');
    });

    it('quits cleanly: exit 0, no inference host left, the data folder unlocked', slow, async () => {
      const hosts = inferenceHosts(app.main.pid!);
      assert.equal(hosts.length, 1);
      // Closing the last window quits on Linux and Windows; macOS keeps the app, so it gets a SIGTERM,
      // which Electron turns into the same quit.
      await app.page.evaluate(() => (globalThis as unknown as { close(): void }).close()).catch(() => {});
      if (process.platform === 'darwin') app.main.kill('SIGTERM');
      assert.equal(await app.exited, 0, app.output());
      assert.ok(await until(() => hosts.every((pid) => !isRunning(pid)), 10_000), 'the inference host ended with the app');
      assert.equal(existsSync(join(dataDir, LOCK_FILE)), false, 'the data folder is unlocked');
    });

    it('leaves no inference host running after a kill -9 of main', slow, async () => {
      // A second start on the same folder: the model setting was saved, so the host starts with it.
      app = await launch((target as { path: string }).path, dataDir);
      const outcome = await chat(app.page, 'And again?');
      assert.ok('done' in outcome && outcome.done.result.ok, JSON.stringify(outcome));
      const hosts = inferenceHosts(app.main.pid!);
      assert.equal(hosts.length, 1, 'the host runs');
      app.main.kill('SIGKILL');
      await app.exited;
      assert.ok(await until(() => hosts.every((pid) => !isRunning(pid)), 15_000), `inference host ${hosts.join(', ')} outlived main`);
    });
  });
}
