/** The model manager through the services: catalog downloads from a local "Hugging Face", fit, switching, deleting. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelResponse, DownloadInfo, Events, LocalModel } from '../../electron/contract/index.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { HF_TOKEN } from '../../electron/services/settings-service.js';
import { buildBigramModel } from '../fixtures/gguf-writer.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { startRangeServer, type RangeServer } from '../fixtures/range-server.js';
import { until } from '../fixtures/processes.js';
import { TEST_FILE, TEST_REPO, writeTestCatalog } from '../fixtures/test-catalog.js';

let hf: RangeServer;
let models: FixtureModels;
let catalogPath: string;
const dirs: string[] = [];
const open: Services[] = [];
const modelBytes = buildBigramModel({ name: 'answer-model' });

async function services(extra: Partial<Parameters<typeof createServices>[0]> = {}): Promise<Services> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spillway-models-data-'));
  dirs.push(dataDir);
  const s = await createServices({
    ...extra, dataDir, mode: 'headless', version: 'test', secrets: new MemorySecretStore(), catalogPath,
    downloader: { env: { HF_ENDPOINT: hf.origin }, retry: { baseDelayMs: 10, maxDelayMs: 20 } },
  });
  open.push(s);
  return s;
}

async function call<C extends Channel>(s: Services, channel: C, request: unknown): Promise<ChannelResponse<C>> {
  const result = await s.call(channel, request);
  if (!result.ok) assert.fail(`${channel}: ${result.error.code} ${result.error.message}`);
  return result.value;
}

function downloadEnds(s: Services, id: string): Promise<DownloadInfo[]> {
  const seen: DownloadInfo[] = [];
  return new Promise((resolve) => {
    const off = s.on('download:progress', (info) => {
      if (info.id !== id) return;
      seen.push(info);
      if (['done', 'failed', 'cancelled', 'paused'].includes(info.state)) {
        off();
        resolve(seen);
      }
    });
  });
}

before(async () => {
  hf = await startRangeServer();
  hf.addRepo(TEST_REPO, { [TEST_FILE]: modelBytes });
  // Node's own fetch installs its bundled undici as the global dispatcher; downloads must not depend on it.
  await fetch(`${hf.origin}/warm-up`).then((r) => r.arrayBuffer()).catch(() => {});
  models = makeFixtureModels();
  const dir = mkdtempSync(join(tmpdir(), 'spillway-catalog-'));
  dirs.push(dir);
  catalogPath = writeTestCatalog(dir, modelBytes);
});
after(async () => {
  await Promise.all(open.map((s) => s.shutdown()));
  await hf.close();
  models.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('model manager', () => {
  test('a catalog download streams progress, verifies, appears with its fit, and becomes the engine without a restart', async () => {
    const s = await services();
    const [entry] = await call(s, 'models:catalog', {});
    assert.equal(entry?.id, 'answer-model');
    const started = await call(s, 'models:download', { source: 'answer-model', quantization: 'Q8_0' });
    assert.equal(started.label, 'Answer Model Q8_0');
    const events = await downloadEnds(s, started.id);
    const last = events.at(-1)!;
    assert.equal(last.state, 'done', JSON.stringify(last.error));
    assert.equal(last.bytesDone, modelBytes.length);
    const settings = await call(s, 'settings:get', {});
    assert.equal(last.modelPath, join(settings.modelsDir, TEST_FILE));
    assert.deepEqual(readdirSync(settings.modelsDir).filter((f) => f.endsWith('.gguf')), [TEST_FILE]);

    const list = await call(s, 'models:list', {});
    assert.equal(list.length, 1);
    const model = list[0]!;
    assert.equal(model.source, 'models-folder');
    assert.equal(model.inspection?.name, 'answer-model');
    assert.equal(model.inspection?.architecture, 'llama');
    assert.equal(model.inspection?.trainedContextSize, 512);
    assert.equal(model.inspection?.fit.verdict, 'ram');
    assert.ok((model.inspection?.fit.ramBytes ?? 0) > 0);

    const engine = await call(s, 'models:setActive', { path: model.path });
    assert.equal(engine.modelPath, model.path);
    const done = new Promise<Events['chat:done']>((resolve) => {
      const off = s.on('chat:done', (payload) => {
        off();
        resolve(payload);
      });
    });
    await call(s, 'chat:send', { content: 'Hello' });
    const answer = (await done).result;
    assert.ok(answer.ok);
    assert.equal(answer.value.content, ANSWER);
  });

  test('cancel leaves nothing behind', async () => {
    const s = await services();
    hf.setFaultHandler((r) => (r.path.endsWith(TEST_FILE) ? { kind: 'slow', bytesPerSecond: 20_000 } : undefined));
    const started = await call(s, 'models:download', { source: `hf:${TEST_REPO}/${TEST_FILE}` });
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = await call(s, 'models:cancelDownload', { id: started.id });
    hf.setFaultHandler(undefined);
    assert.equal(cancelled.state, 'cancelled');
    const dir = (await call(s, 'settings:get', {})).modelsDir;
    const leftovers = readdirSync(dir, { recursive: true }).map(String).filter((f) => !f.endsWith('.partial') && f !== '.partial');
    assert.deepEqual(leftovers, []);
    assert.deepEqual(await call(s, 'models:list', {}), []);
  });

  test('adding a file that is not a model is refused; a good one elsewhere is added, used, and forgotten without deleting it', async () => {
    const s = await services();
    const junk = join(models.dir, 'notes.gguf');
    writeFileSync(junk, 'hello, not a model');
    const refused = await s.call('models:add', { path: junk });
    assert.ok(!refused.ok);
    assert.equal(refused.error.code, 'INVALID_ARGUMENT');
    assert.match(refused.error.message, /Not a GGUF/);
    assert.deepEqual(await call(s, 'models:list', {}), []);
    const missing = await s.call('models:add', { path: join(models.dir, 'nope.gguf') });
    assert.ok(!missing.ok && missing.error.code === 'NOT_FOUND');

    const added = await call(s, 'models:add', { path: models.loop });
    assert.equal(added.source, 'added');
    assert.equal(added.inspection?.name, 'loop-model');
    await call(s, 'models:setActive', { path: models.loop });
    // The model in use cannot be deleted while it answers.
    await call(s, 'chat:send', { content: 'Keep going' });
    await new Promise<void>((resolve) => {
      const off = s.on('chat:delta', () => {
        off();
        resolve();
      });
    });
    const busy = await s.call('models:delete', { path: models.loop });
    assert.ok(!busy.ok);
    assert.equal(busy.error.code, 'BUSY');
    const running = await call(s, 'models:list', {});
    assert.equal(running.length, 1);
    await s.shutdown();
    const again = await services();
    await call(again, 'models:add', { path: models.loop });
    await call(again, 'models:delete', { path: models.loop });
    assert.deepEqual(await call(again, 'models:list', {}), []);
    assert.ok(existsSync(models.loop), 'an added file is forgotten, never deleted');
  });

  test('the desktop file picker adds the chosen file; headless mode says to type a path; the HF token is write-only', async () => {
    const headless = await services();
    const none = await headless.call('models:pick', {});
    assert.ok(!none.ok && none.error.code === 'UNAVAILABLE' && /path/.test(none.error.message));
    const noToken = await headless.call('settings:setHfToken', { token: 'hf_secret' });
    assert.ok(!noToken.ok && noToken.error.code === 'UNAVAILABLE');

    const dataDir = mkdtempSync(join(tmpdir(), 'spillway-models-data-'));
    dirs.push(dataDir);
    const token = new MemorySecretStore();
    let answer: string | null = models.answer;
    const desktop = await createServices({
      dataDir, mode: 'desktop', version: 'test', secrets: new MemorySecretStore(), hfToken: token, catalogPath,
      pickModelFile: async () => answer,
    });
    open.push(desktop);
    const picked = await call(desktop, 'models:pick', {});
    assert.equal(picked?.path, models.answer);
    answer = null;
    assert.equal(await call(desktop, 'models:pick', {}), null, 'a cancelled picker adds nothing');
    assert.equal((await call(desktop, 'models:list', {})).length, 1);
    const set = await call(desktop, 'settings:setHfToken', { token: 'hf_secret' });
    assert.equal(set.huggingFaceTokenSet, true);
    assert.equal(token.get(HF_TOKEN), 'hf_secret');
    assert.ok(!JSON.stringify(set).includes('hf_secret'));
  });

  test('the model given with --model, outside the models folder, is listed as in use; a new model in use is pushed to windows', async () => {
    const s = await services({ overrides: { local: { modelPath: models.answer } } });
    const rows = (list: LocalModel[]) => list.map((m) => [m.path, m.source, m.active, m.inspection?.name]);
    assert.deepEqual(rows(await call(s, 'models:list', {})), [[models.answer, 'in-use', true, 'answer-model']]);
    // As first run's "Use this model" does: the path is set, the file is not added anywhere.
    const pushed = new Promise<LocalModel[]>((resolve) => {
      const off = s.on('models:update', (list) => {
        off();
        resolve(list);
      });
    });
    await call(s, 'settings:set', { patch: { local: { modelPath: models.loop } } });
    assert.deepEqual(rows(await pushed), [[models.loop, 'in-use', true, 'loop-model']]);
    // Added, it is listed once, as added.
    await call(s, 'models:add', { path: models.loop });
    assert.deepEqual(rows(await call(s, 'models:list', {})), [[models.loop, 'added', true, 'loop-model']]);
  });

  test('shutting down while models are being inspected leaves no inference host behind', async () => {
    // The engine warms up while two lists wait for the model's inspection behind it; then the app stops.
    // Hosts of the tests before (inspectors winding down) are not this one's.
    const earlier = new Set(childHosts(process.pid));
    const s = await services({ overrides: { local: { modelPath: models.answer } }, warmUp: true });
    const lists = [s.call('models:list', {}), s.call('models:list', {})];
    await new Promise((resolve) => setTimeout(resolve, 200));
    await s.shutdown();
    await Promise.all(lists);
    const hosts = (): number[] => childHosts(process.pid).filter((pid) => !earlier.has(pid));
    assert.ok(await until(() => hosts().length === 0, 5000), `inference hosts still running: ${hosts().join(', ')}`);
    // Nothing starts one later either.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(hosts(), []);
  });
});

/** Pids of the inference host processes this process started. */
function childHosts(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('inference/host')) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}
