/** The app's services through their one entry point, `call(channel, request)`, as both adapters use it. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EndpointInput, Result } from '../../electron/contract/index.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { call, nextEvent } from '../fixtures/service-calls.js';

let models: FixtureModels;
let cloud: FakeOpenAIServer;
const dirs: string[] = [];
const open: Services[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-data-'));
  dirs.push(dir);
  return dir;
}

async function services(dir = dataDir(), keys: Record<string, string> = {}): Promise<Services> {
  const s = await createServices({ dataDir: dir, mode: 'headless', version: 'test', secrets: new MemorySecretStore(keys) });
  open.push(s);
  return s;
}

/** An endpoint as the settings form submits it (no id: one is made from the name). */
function newEndpoint(baseURL: string, model: string, name: string): EndpointInput {
  const { id: _id, learned: _learned, ...input } = endpoint(baseURL, model, { name });
  return input;
}

function value<T>(result: Result<T>): T {
  if (!result.ok) assert.fail(`${result.error.code}: ${result.error.message}`);
  return result.value;
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
    assert.equal((await call(s, 'settings:get', {})).routing.strategy, 'local-first');
    assert.equal(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).routing.strategy, 'local-first');
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
    const result = await s.call('settings:set', { patch: { routing: { circuitThreshold: 5 }, endpoints: [endpoint('ftp://nope', 'm')] } });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'INVALID_ARGUMENT');
    assert.equal(result.error.field, 'patch.endpoints.0.baseURL');
    assert.match(result.error.message, /http/);
    assert.equal((await call(s, 'settings:get', {})).routing.circuitThreshold, 3, 'the valid half was not applied either');
    assert.equal(existsSync(file) ? readFileSync(file, 'utf8') : null, before);
    const unknown = await s.call('settings:set', { patch: { routing: { bogus: 1 } } });
    assert.ok(!unknown.ok && unknown.error.code === 'INVALID_ARGUMENT' && /bogus/.test(unknown.error.message));
    const wrongType = await s.call('chat:send', { content: 42 });
    assert.ok(!wrongType.ok && wrongType.error.field === 'content');
  });

  test('an endpoint key is write-only: settings say which endpoints have one, never what it is', async () => {
    const dir = dataDir();
    const s = await services(dir);
    await call(s, 'endpoints:save', { endpoint: newEndpoint(cloud.baseURL, 'cloud-model', 'My cloud') });
    const set = await call(s, 'endpoints:setKey', { id: 'my-cloud', apiKey: 'sk-very-secret' });
    assert.deepEqual(set.endpointKeys, ['my-cloud']);
    assert.ok(!JSON.stringify(set).includes('sk-very-secret'));
    await call(s, 'settings:set', { patch: { generation: { systemPrompt: 'x' } } });
    assert.ok(!readFileSync(join(dir, 'settings.json'), 'utf8').includes('sk-very-secret'));
    assert.deepEqual((await call(s, 'endpoints:setKey', { id: 'my-cloud', apiKey: null })).endpointKeys, []);
    const unknown = await s.call('endpoints:setKey', { id: 'nope', apiKey: 'sk-x' });
    assert.ok(!unknown.ok && unknown.error.code === 'NOT_FOUND');
  });
});

describe('chat', () => {
  test('send returns at once; deltas stream and one done carries the stored answer with its badge', async () => {
    const s = await services();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.answer } } });
    let streamed = '';
    s.on('chat:delta', (delta) => (streamed += delta.text));
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Hello there' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.content, ANSWER);
    assert.equal(streamed, ANSWER);
    assert.equal(result.value.meta?.entryKind, 'local');
    assert.equal(result.value.meta?.entryId, 'local');
    assert.equal(result.value.meta?.tier, 'sovereign');
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
    await call(s, 'settings:set', { patch: { local: { modelPath: models.missing }, endpoints: [endpoint(cloud.baseURL, 'cloud-model')] } });
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Hi' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.content, 'Cloud says hi.');
    assert.equal(result.value.meta?.entryKind, 'remote');
    assert.equal(result.value.meta?.entryId, 'cloud');
    assert.equal(result.value.meta?.entryName, 'Test cloud');
    assert.equal(result.value.meta?.spilledAfter?.code, 'MODEL_NOT_FOUND');
    assert.equal(result.value.meta?.spilledAfter?.entryId, 'local');
    const engine = await call(s, 'engine:status', {});
    assert.equal(engine.state, 'error');
    assert.equal(engine.error?.code, 'MODEL_NOT_FOUND');

    const retried = nextEvent(s, 'chat:done');
    await call(s, 'chat:retry', { conversationId: sent.conversationId, target: 'cloud' });
    assert.ok((await retried).result.ok);
    const conversation = await call(s, 'conversations:get', { id: sent.conversationId });
    assert.equal(conversation.messages.length, 2, 'the retried answer is shown in place of the first one');
    assert.equal(conversation.messages[1]!.branch?.ids.length, 2, 'the first one stays reachable');
  });

  test('with the ceiling at this computer only, a failing local model is not sent to the cloud', async () => {
    const s = await services();
    cloud.reset();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.missing }, endpoints: [endpoint('https://api.example.com/v1', 'cloud-model')] } });
    const state = await call(s, 'router:setCeiling', { ceiling: 'sovereign' });
    assert.equal(state.privacyTier, 'sovereign');
    assert.equal(state.route.find((e) => e.id === 'cloud')?.excluded, 'ceiling');
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
    s.on('chat:delta', () => started());
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
    const state = await call(s, 'router:setStrategy', { strategy: 'cloud-only' });
    assert.equal(state.strategy, 'cloud-only');
    assert.equal(state.next, null, 'nothing can answer');
    assert.deepEqual(state.route.map((e) => [e.id, e.excluded]), [['local', 'strategy']]);
    const done = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { content: 'Hi' });
    const result = (await done).result;
    assert.ok(!result.ok && result.error.code === 'NO_FALLBACK');
    await s.shutdown();
    const again = await services(dir);
    assert.equal((await call(again, 'router:get', {})).strategy, 'cloud-only');
  });

  test('endpoints:test reports latency and models, or the mapped error', async () => {
    const s = await services();
    const okTest = await call(s, 'endpoints:test', { baseURL: cloud.baseURL });
    assert.ok(okTest.models.includes('fake-model'));
    assert.ok(okTest.latencyMs >= 0);
    cloud.failNext({ status: 401 });
    const bad = await s.call('endpoints:test', { baseURL: cloud.baseURL, apiKey: 'sk-wrong-key' });
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'AUTH');
    assert.ok(!bad.error.message.includes('sk-wrong-key'));
  });
});

describe('endpoints', () => {
  /** A settings file exactly as the first build wrote it: one cloud endpoint, a privacy lock, seed strategy names. */
  const V1_FILE = {
    routing: { strategy: 'fallback-only', privacyLock: 'private', firstTokenTimeoutMs: 45_000, idleTimeoutMs: 9_000, circuitThreshold: 4, circuitCooldownMs: 12_000 },
    local: { modelPath: '/models/qwen.gguf', threads: 2, gpuLayers: 'auto', contextSize: 4096 },
    cloud: { preset: 'ollama', baseURL: 'http://127.0.0.1:11434/v1', model: 'llama3.2', contextWindow: 32_000, privacyTier: 'private' },
    generation: { systemPrompt: 'Be kind.', temperature: 0.3, maxTokens: 512 },
    server: { enabled: true, port: 9001 },
    models: { dir: '/srv/models', extraPaths: ['/elsewhere/a.gguf'] },
  };

  test("a first-build settings file migrates on first start with nothing lost, and the original is kept", async () => {
    const dir = dataDir();
    const original = `${JSON.stringify(V1_FILE, null, 2)}\n`;
    writeFileSync(join(dir, 'settings.json'), original);
    const s = await services(dir);
    const settings = await call(s, 'settings:get', {});
    assert.deepEqual(settings.routing, {
      strategy: 'cloud-only',
      ceiling: 'private',
      askBeforeSending: false,
      loadTimeoutMs: 120_000,
      firstTokenTimeoutMs: 45_000,
      idleTimeoutMs: 9_000,
      cloudTimeoutMs: 60_000,
      circuitThreshold: 4,
      circuitCooldownMs: 12_000,
    });
    // A setting the first build did not have takes its default.
    assert.deepEqual(settings.local, { ...V1_FILE.local, parallel: null });
    assert.deepEqual(settings.generation, V1_FILE.generation);
    assert.deepEqual(settings.server, V1_FILE.server);
    assert.deepEqual(settings.models, V1_FILE.models);
    assert.deepEqual(settings.endpoints, [
      {
        id: 'cloud',
        name: 'Ollama',
        preset: 'ollama',
        baseURL: 'http://127.0.0.1:11434/v1',
        model: 'llama3.2',
        contextWindow: 32_000,
        tier: 'private',
        capabilities: { images: null, tools: null, embeddings: null },
        learned: {},
        enabled: true,
      },
    ]);
    assert.equal(readFileSync(join(dir, 'settings.v1.json'), 'utf8'), original, 'the original file is kept byte for byte');
    const onDisk = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'));
    assert.equal(onDisk.version, 2);
    assert.equal(onDisk.cloud, undefined);
    assert.equal((await call(s, 'app:info', {})).notices.length, 0, 'nothing to tell: nothing was dropped');
    // The migrated file opens as it is on the next start.
    await s.shutdown();
    const again = await services(dir);
    assert.deepEqual((await call(again, 'settings:get', {})).endpoints, settings.endpoints);
    assert.equal((await call(again, 'router:get', {})).route.find((e) => e.id === 'cloud')?.tier, 'private');
  });

  test('a first-build tier the new rule refuses is dropped with a notice; an empty cloud becomes no endpoint', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ ...V1_FILE, cloud: { ...V1_FILE.cloud, baseURL: 'https://api.openai.com/v1', preset: 'openai', privacyTier: 'sovereign' } }));
    const s = await services(dir);
    const settings = await call(s, 'settings:get', {});
    assert.equal(settings.endpoints[0]?.tier, null);
    assert.equal(settings.endpoints[0]?.name, 'OpenAI');
    assert.match((await call(s, 'app:info', {})).notices[0]?.message ?? '', /cannot be declared sovereign/);

    const empty = dataDir();
    writeFileSync(join(empty, 'settings.json'), JSON.stringify({ ...V1_FILE, cloud: { preset: 'custom', baseURL: null, model: '', contextWindow: 128000, privacyTier: null } }));
    assert.deepEqual((await call(await services(empty), 'settings:get', {})).endpoints, []);
  });

  test('add, reorder, test and remove endpoints; ids come from names and stay unique', async () => {
    const s = await services();
    await call(s, 'endpoints:save', { endpoint: newEndpoint(cloud.baseURL, 'cloud-model', 'Home server') });
    await call(s, 'endpoints:save', { endpoint: newEndpoint(cloud.baseURL, 'fake-model', 'Home server') });
    let settings = await call(s, 'endpoints:save', { endpoint: newEndpoint('https://api.example.com/v1', 'big', 'Cloud!') });
    assert.deepEqual(settings.endpoints.map((e) => e.id), ['home-server', 'home-server-2', 'cloud']);
    settings = await call(s, 'endpoints:move', { id: 'cloud', index: 0 });
    assert.deepEqual(settings.endpoints.map((e) => e.id), ['cloud', 'home-server', 'home-server-2']);
    const state = await call(s, 'router:get', {});
    assert.deepEqual(state.route.map((e) => `${e.id}:${e.kind}:${e.tier}`), ['local:local:sovereign', 'cloud:remote:standard', 'home-server:remote:sovereign', 'home-server-2:remote:sovereign']);

    const tested = await call(s, 'endpoints:test', { id: 'home-server-2' });
    assert.ok(tested.models.includes('fake-model'));
    const edited = settings.endpoints.find((e) => e.id === 'home-server')!;
    settings = await call(s, 'endpoints:save', { endpoint: { ...newEndpoint(edited.baseURL, edited.model, 'Renamed'), id: 'home-server' } });
    assert.equal(settings.endpoints.find((e) => e.id === 'home-server')?.name, 'Renamed', 'saving with an id replaces that endpoint');

    await call(s, 'endpoints:setKey', { id: 'cloud', apiKey: 'sk-cloud-key' });
    settings = await call(s, 'endpoints:remove', { id: 'cloud' });
    assert.deepEqual(settings.endpoints.map((e) => e.id), ['home-server', 'home-server-2']);
    assert.deepEqual(settings.endpointKeys, [], "the removed endpoint's key went with it");
    const missing = await s.call('endpoints:remove', { id: 'cloud' });
    assert.ok(!missing.ok && missing.error.code === 'NOT_FOUND');
  });

  test('a tier may only be declared more permissive than the URL shows', async () => {
    const s = await services();
    const proxy = await call(s, 'endpoints:save', { endpoint: { ...newEndpoint('http://127.0.0.1:4000/v1', 'gpt', 'Proxy'), tier: 'standard' } });
    assert.equal(proxy.endpoints[0]?.tier, 'standard', 'a loopback proxy to the cloud can be declared standard');
    assert.equal((await call(s, 'router:get', {})).route[1]?.tier, 'standard');
    const refused = await s.call('endpoints:save', { endpoint: { ...newEndpoint('https://api.openai.com/v1', 'gpt', 'OpenAI'), tier: 'private' } });
    assert.ok(!refused.ok);
    assert.equal(refused.error.code, 'INVALID_ARGUMENT');
    assert.equal(refused.error.field, 'endpoint.tier');
    assert.match(refused.error.message, /api\.openai\.com is on the internet \(standard\), so it cannot be declared private/);
    assert.equal((await call(s, 'settings:get', {})).endpoints.length, 1, 'nothing was added');
  });
});

describe('consent and pins', () => {
  /** Services with a working local model and the fake cloud as a standard-tier endpoint, asking before sending. */
  async function asking(strategy: 'cloud-only' | 'local-first' = 'cloud-only'): Promise<Services> {
    const s = await services();
    await call(s, 'settings:set', {
      patch: { local: { modelPath: models.answer }, endpoints: [endpoint(cloud.baseURL, 'cloud-model', { tier: 'standard' })], routing: { strategy, askBeforeSending: true } },
    });
    return s;
  }

  test('nothing leaves until the person says so: once sends, and the question names the endpoint and why', async () => {
    cloud.reset();
    const s = await asking();
    const asked = nextEvent(s, 'consent:request');
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Private question' });
    const question = await asked;
    assert.equal(question.conversationId, sent.conversationId);
    assert.deepEqual(question.entry, { id: 'cloud', name: 'Test cloud', host: new URL(cloud.baseURL).host, model: 'cloud-model', tier: 'standard' });
    assert.equal(question.why, 'cloud-only');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(cloud.chatRequests().length, 0, 'nothing reached the endpoint while the question was open');
    const settled = nextEvent(s, 'consent:settled');
    assert.deepEqual(await call(s, 'chat:consent', { consentId: question.consentId, choice: 'once' }), { settled: true });
    assert.deepEqual(await settled, { consentId: question.consentId, choice: 'once' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.meta?.entryId, 'cloud');
    assert.equal(cloud.chatRequests().length, 1);
    assert.deepEqual(await call(s, 'chat:consent', { consentId: question.consentId, choice: 'once' }), { settled: false }, 'a question is answered once');
  });

  test('keep it here: after a local failure nothing is sent, and the answer says why', async () => {
    cloud.reset();
    const s = await asking('local-first');
    await call(s, 'settings:set', { patch: { local: { modelPath: models.missing } } });
    const asked = nextEvent(s, 'consent:request');
    const done = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { content: 'Private question' });
    const question = await asked;
    assert.equal(question.why, 'spillover');
    assert.match(question.after?.message ?? '', /does not exist/);
    await call(s, 'chat:consent', { consentId: question.consentId, choice: 'keep' });
    const result = (await done).result;
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'PRIVACY_BLOCKED');
    assert.match(result.error.message, /you chose to keep this conversation on this computer/);
    assert.equal(cloud.chatRequests().length, 0);
  });

  test('always for this conversation stops the questions for it, and only for it', async () => {
    cloud.reset();
    const s = await asking();
    let questions = 0;
    s.on('consent:request', (q) => {
      questions++;
      void s.call('chat:consent', { consentId: q.consentId, choice: 'always' });
    });
    const first = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'One' });
    assert.ok((await first).result.ok);
    assert.deepEqual((await call(s, 'conversations:get', { id: sent.conversationId })).consent, ['cloud']);
    const second = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { conversationId: sent.conversationId, content: 'Two' });
    assert.ok((await second).result.ok);
    assert.equal(questions, 1, 'the second message was not asked about');
    const other = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { content: 'A new conversation' });
    assert.ok((await other).result.ok);
    assert.equal(questions, 2, 'another conversation is asked about again');
  });

  test('stopping an answer while the question is open withdraws the question and sends nothing', async () => {
    cloud.reset();
    const s = await asking();
    const asked = nextEvent(s, 'consent:request');
    const done = nextEvent(s, 'chat:done');
    const sent = await call(s, 'chat:send', { content: 'Never mind' });
    const question = await asked;
    const withdrawn = nextEvent(s, 'consent:settled');
    await call(s, 'chat:cancel', { requestId: sent.requestId });
    assert.deepEqual(await withdrawn, { consentId: question.consentId, choice: 'withdrawn' });
    const result = (await done).result;
    assert.ok(!result.ok && result.error.code === 'ABORTED');
    assert.equal(cloud.chatRequests().length, 0);
  });

  test('a pinned conversation follows its own strategy; a pinned ceiling only tightens the app’s', async () => {
    cloud.reset();
    const s = await services();
    await call(s, 'settings:set', { patch: { local: { modelPath: models.answer }, endpoints: [endpoint(cloud.baseURL, 'cloud-model', { tier: 'standard' })], routing: { strategy: 'cloud-only' } } });
    const conversation = await call(s, 'conversations:create', {});
    const pinned = await call(s, 'conversations:setPin', { id: conversation.id, pin: { strategy: 'local-only' } });
    assert.deepEqual(pinned.pin, { strategy: 'local-only' });
    const state = await call(s, 'router:get', { conversationId: conversation.id });
    assert.equal(state.strategy, 'local-only');
    assert.equal(state.next, 'local');
    assert.equal((await call(s, 'router:get', {})).next, 'cloud', 'the app itself stays on cloud only');
    const done = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { conversationId: conversation.id, content: 'Hello there' });
    const result = (await done).result;
    assert.ok(result.ok);
    assert.equal(result.value.meta?.entryId, 'local');
    assert.equal(cloud.chatRequests().length, 0);

    // The app's ceiling holds even for a conversation pinned to "anywhere".
    await call(s, 'router:setCeiling', { ceiling: 'sovereign' });
    await call(s, 'conversations:setPin', { id: conversation.id, pin: { strategy: 'cloud-only', ceiling: 'standard' } });
    assert.equal((await call(s, 'router:get', { conversationId: conversation.id })).next, null);
    const blocked = nextEvent(s, 'chat:done');
    await call(s, 'chat:send', { conversationId: conversation.id, content: 'Hello again' });
    const refusal = (await blocked).result;
    assert.ok(!refusal.ok && refusal.error.code === 'PRIVACY_BLOCKED');
    assert.equal(cloud.chatRequests().length, 0);

    const bad = await s.call('conversations:setPin', { id: conversation.id, pin: { entryId: 'nowhere' } });
    assert.ok(!bad.ok && bad.error.code === 'INVALID_ARGUMENT' && bad.error.field === 'pin.entryId');
    assert.equal((await call(s, 'conversations:setPin', { id: conversation.id, pin: null })).pin, null);
  });
});

describe('capabilities', () => {
  test('what an endpoint says about its model when tested is remembered and shapes the route; a declaration wins', async () => {
    // An OpenRouter-style listing: one model reads images, the other does not.
    const listing = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        object: 'list',
        data: [
          { id: 'vision-model', object: 'model', architecture: { input_modalities: ['text', 'image'] }, supported_parameters: ['tools'] },
          { id: 'text-model', object: 'model', architecture: { input_modalities: ['text'] }, supported_parameters: [] },
        ],
      }));
    });
    await new Promise<void>((resolve) => listing.listen(0, '127.0.0.1', resolve));
    try {
      const baseURL = `http://127.0.0.1:${(listing.address() as AddressInfo).port}/v1`;
      const s = await services();
      await call(s, 'settings:set', { patch: { endpoints: [endpoint(baseURL, 'text-model', { id: 'router' })] } });
      const capsOf = async () => (await call(s, 'router:get', {})).route.find((e) => e.id === 'router')?.capabilities;
      assert.deepEqual(await capsOf(), ['images', 'tools', 'embeddings'], 'untested: assumed able (the endpoint will say if not)');
      const tested = await call(s, 'endpoints:test', { id: 'router' });
      assert.deepEqual(tested.learned, { images: false, tools: false });
      assert.deepEqual((await call(s, 'settings:get', {})).endpoints[0]?.learned, { images: false, tools: false });
      assert.deepEqual(await capsOf(), ['embeddings']);
      const declared = await call(s, 'settings:set', { patch: { endpoints: [{ ...(await call(s, 'settings:get', {})).endpoints[0]!, capabilities: { images: true, tools: null, embeddings: false } }] } });
      assert.equal(declared.endpoints[0]?.capabilities.images, true);
      assert.deepEqual(await capsOf(), ['images'], 'declared images win over what was learned; tools stays learned');
    } finally {
      await new Promise<void>((resolve) => listing.close(() => resolve()));
    }
  });
});
