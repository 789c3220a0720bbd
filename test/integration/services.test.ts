/** The app's services through their one entry point, `call(channel, request)`, as both adapters use it. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChannelResponse, Channel, EventName, Events, Result } from '../../electron/contract/index.js';
import { AppServices } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

let models: FixtureModels;
let cloud: FakeOpenAIServer;
const dirs: string[] = [];
const open: AppServices[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-data-'));
  dirs.push(dir);
  return dir;
}

async function services(dir = dataDir(), apiKey: string | null = null): Promise<AppServices> {
  const s = await AppServices.create({ dataDir: dir, mode: 'headless', version: 'test', secrets: new MemorySecretStore(apiKey) });
  open.push(s);
  return s;
}

function value<T>(result: Result<T>): T {
  if (!result.ok) assert.fail(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

/** Resolves with the first event of `name` matching `predicate`. */
function nextEvent<E extends EventName>(s: AppServices, name: E, predicate: (p: Events[E]) => boolean = () => true): Promise<Events[E]> {
  return new Promise((resolve) => {
    const off = s.subscribe((event: EventName, payload: unknown) => {
      if (event === name && predicate(payload as Events[E])) {
        off();
        resolve(payload as Events[E]);
      }
    });
  });
}

async function call<C extends Channel>(s: AppServices, channel: C, request: unknown): Promise<ChannelResponse<C>> {
  return value(await s.call(channel, request));
}

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: 'Cloud says hi.' });
});
after(async () => {
  await Promise.all(open.map((s) => s.shutdown()));
  await cloud.close();
  models.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('settings', () => {
  test('a corrupt settings file is moved aside, defaults are restored and the user is told', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'settings.json'), '{"routing": {"strategy": "prim');
    const s = await services(dir);
    const info = await call(s, 'app:info', {});
    assert.equal(info.notices.length, 1);
    assert.match(info.notices[0]!.message, /could not be read.*default settings were restored/);
    const aside = readdirSync(dir).filter((f) => f.startsWith('settings.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), '{"routing": {"strategy": "prim', 'the original is kept byte for byte');
    assert.equal((await call(s, 'settings:get', {})).routing.strategy, 'primary-with-fallback');
    assert.equal(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).routing.strategy, 'primary-with-fallback');
  });

  test('a settings file with a value of the wrong type is treated the same way', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ routing: { circuitThreshold: 'lots' } }));
    const s = await services(dir);
    const info = await call(s, 'app:info', {});
    assert.match(info.notices[0]?.message ?? '', /circuitThreshold/);
  });

  test('two concurrent updates both persist', async () => {
    const dir = dataDir();
    const s = await services(dir);
    const [a, b] = await Promise.all([
      s.call('settings:set', { patch: { routing: { circuitThreshold: 7 } } }),
      s.call('settings:set', { patch: { generation: { systemPrompt: 'Be brief.' } } }),
    ]);
    assert.ok(a.ok && b.ok);
    const onDisk = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'));
    assert.equal(onDisk.routing.circuitThreshold, 7);
    assert.equal(onDisk.generation.systemPrompt, 'Be brief.');
    await s.shutdown();
    const again = await services(dir);
    const settings = await call(again, 'settings:get', {});
    assert.equal(settings.routing.circuitThreshold, 7);
    assert.equal(settings.generation.systemPrompt, 'Be brief.');
  });

  test('an invalid patch is refused naming the field, and nothing is applied', async () => {
    const dir = dataDir();
    const s = await services(dir);
    const file = join(dir, 'settings.json');
    const before = existsSync(file) ? readFileSync(file, 'utf8') : null;
    const result = await s.call('settings:set', { patch: { routing: { circuitThreshold: 5 }, cloud: { baseURL: 'ftp://nope' } } });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'INVALID_ARGUMENT');
    assert.equal(result.error.field, 'patch.cloud.baseURL');
    assert.match(result.error.message, /http/);
    assert.equal((await call(s, 'settings:get', {})).routing.circuitThreshold, 3, 'the valid half was not applied either');
    assert.equal(existsSync(file) ? readFileSync(file, 'utf8') : null, before);
    const unknown = await s.call('settings:set', { patch: { routing: { bogus: 1 } } });
    assert.ok(!unknown.ok && unknown.error.code === 'INVALID_ARGUMENT' && /bogus/.test(unknown.error.message));
    const wrongType = await s.call('chat:send', { content: 42 });
    assert.ok(!wrongType.ok && wrongType.error.field === 'content');
  });

  test('the API key is write-only: settings say whether one is set, never what it is', async () => {
    const dir = dataDir();
    const s = await services(dir);
    const set = await call(s, 'settings:setApiKey', { apiKey: 'sk-very-secret' });
    assert.equal(set.cloudApiKeySet, true);
    assert.ok(!JSON.stringify(set).includes('sk-very-secret'));
    await call(s, 'settings:set', { patch: { cloud: { model: 'm' } } });
    assert.ok(!readFileSync(join(dir, 'settings.json'), 'utf8').includes('sk-very-secret'));
    assert.equal((await call(s, 'settings:setApiKey', { apiKey: null })).cloudApiKeySet, false);
  });
});

describe('chat', () => {
  test('send returns at once; deltas stream and one done carries the stored answer with its badge', async () => {
    const s = await services();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.answer } } });
    let streamed = '';
    s.subscribe((event, payload) => {
      if (event === 'chat:delta') streamed += (payload as Events['chat:delta']).text;
    });
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Hello there' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.content, ANSWER);
    assert.equal(streamed, ANSWER);
    assert.equal(result.value.meta?.source, 'local');
    assert.equal(result.value.meta?.model, 'answer-model');
    const conversation = await call(s, 'conversations:get', { id: sent.conversationId });
    assert.deepEqual(conversation.messages.map((m) => [m.role, m.content]), [['user', 'Hello there'], ['assistant', ANSWER]]);
    assert.equal(conversation.title, 'Hello there');
    const metrics = await call(s, 'metrics:get', {});
    assert.equal(metrics.primarySuccesses, 1);
    const engine = await call(s, 'engine:status', {});
    assert.equal(engine.state, 'ready');
    assert.equal(engine.info?.backend, 'cpu');
  });

  test('with a broken local model, local first spills over and the answer says why; retry on cloud replaces it', async () => {
    const s = await services();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.missing }, cloud: { baseURL: cloud.baseURL, model: 'cloud-model' } } });
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Hi' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.content, 'Cloud says hi.');
    assert.equal(result.value.meta?.source, 'cloud');
    assert.equal(result.value.meta?.spilledAfter?.code, 'MODEL_NOT_FOUND');
    const engine = await call(s, 'engine:status', {});
    assert.equal(engine.state, 'error');
    assert.equal(engine.error?.code, 'MODEL_NOT_FOUND');

    const retried = nextEvent(s, 'chat:done');
    await call(s, 'chat:retry', { conversationId: sent.conversationId, target: 'cloud' });
    assert.ok((await retried).result.ok);
    const conversation = await call(s, 'conversations:get', { id: sent.conversationId });
    assert.equal(conversation.messages.length, 2, 'the retried answer replaced the first one');
  });

  test('with the privacy lock on, a failing local model is not sent to the cloud', async () => {
    const s = await services();
    cloud.reset();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.missing }, cloud: { baseURL: 'https://api.example.com/v1', model: 'cloud-model' } } });
    const state = await call(s, 'router:setPrivacyLock', { lock: 'sovereign' });
    assert.equal(state.privacyTier, 'sovereign');
    const done = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { content: 'Secret stuff' });
    const result = (await done).result;
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'PRIVACY_BLOCKED');
  });

  test('cancel stops an answer and keeps the partial text', async () => {
    const s = await services();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.loop } } });
    let started!: () => void;
    const firstDelta = new Promise<void>((resolve) => (started = resolve));
    s.subscribe((event) => {
      if (event === 'chat:delta') started();
    });
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Go on forever' });
    await firstDelta;
    assert.deepEqual(await call(s, 'chat:cancel', { requestId: sent.requestId }), { cancelled: true });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.meta?.stopReason, 'aborted');
    assert.match(result.value.content, /^tick tock/);
    assert.deepEqual(await call(s, 'chat:cancel', { requestId: sent.requestId }), { cancelled: false });
  });

  test('conversations: create, rename, list newest first, delete; they survive a restart', async () => {
    const dir = dataDir();
    const s = await services(dir);
    const a = await call(s, 'conversations:create', { title: 'First' });
    await new Promise((r) => setTimeout(r, 5));
    const b = await call(s, 'conversations:create', {});
    await call(s, 'conversations:rename', { id: b.id, title: 'Second' });
    assert.deepEqual((await call(s, 'conversations:list', {})).map((c) => c.title), ['Second', 'First']);
    await s.shutdown();
    const again = await services(dir);
    assert.deepEqual((await call(again, 'conversations:list', {})).map((c) => c.title), ['Second', 'First']);
    await call(again, 'conversations:delete', { id: a.id });
    const missing = await again.call('conversations:get', { id: a.id });
    assert.ok(!missing.ok && missing.error.code === 'NOT_FOUND');
    assert.deepEqual((await call(again, 'conversations:list', {})).map((c) => c.title), ['Second']);
  });

  test('strategy changes apply at once and persist; cloud only with no endpoint says so', async () => {
    const dir = dataDir();
    const s = await services(dir);
    const state = await call(s, 'router:setStrategy', { strategy: 'fallback-only' });
    assert.equal(state.strategy, 'fallback-only');
    assert.equal(state.hasCloud, false);
    const done = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { content: 'Hi' });
    const result = (await done).result;
    assert.ok(!result.ok && result.error.code === 'NO_FALLBACK');
    await s.shutdown();
    const again = await services(dir);
    assert.equal((await call(again, 'router:get', {})).strategy, 'fallback-only');
  });

  test('cloud:test reports latency and models, or the mapped error', async () => {
    const s = await services();
    const okTest = await call(s, 'cloud:test', { baseURL: cloud.baseURL });
    assert.ok(okTest.models.includes('fake-model'));
    assert.ok(okTest.latencyMs >= 0);
    cloud.failNext({ status: 401 });
    const bad = await s.call('cloud:test', { baseURL: cloud.baseURL, apiKey: 'sk-wrong-key' });
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'AUTH');
    assert.ok(!bad.error.message.includes('sk-wrong-key'));
  });
});
