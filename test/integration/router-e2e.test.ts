/**
 * The whole stack for real: node-llama-cpp in the inference host as the primary, the OpenAI SDK against an
 * HTTP server on 127.0.0.1 as the fallback, the router on top.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DriverError, RoutingDriver } from '../../electron/core/index.js';
import type { ChatMessage } from '../../electron/core/types.js';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { RemoteDriver } from '../../electron/drivers/remote-driver.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

const CLOUD_REPLY = 'Answered by the cloud.';
const hello: ChatMessage[] = [{ role: 'user', content: 'Hello there' }];
let models: FixtureModels;
let cloud: FakeOpenAIServer;
const locals: LocalDriver[] = [];

function local(modelPath: string, extra: Partial<ConstructorParameters<typeof LocalDriver>[0]> = {}): LocalDriver {
  const driver = new LocalDriver({ modelPath, gpu: false, ...extra });
  locals.push(driver);
  return driver;
}

function remote(): RemoteDriver {
  return new RemoteDriver({ baseURL: cloud.baseURL, model: 'cloud-model', apiKey: 'sk-test', contextWindow: 32_000 });
}

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: CLOUD_REPLY });
});
beforeEach(() => cloud.reset());
after(async () => {
  await Promise.all(locals.map((d) => d.dispose()));
  await cloud.close();
  models.cleanup();
});

describe('router over the real local and remote drivers', () => {
  test('local first answers locally and sends the cloud nothing', async () => {
    const router = new RoutingDriver({ primary: local(models.answer), fallback: remote() });
    let streamed = '';
    const response = await router.complete({ messages: hello, onText: (t) => (streamed += t) });
    assert.equal(response.text, ANSWER);
    assert.equal(streamed, ANSWER);
    assert.equal(response.entryKind, 'local');
    assert.equal(response.entryId, 'local');
    assert.equal(cloud.chatRequests().length, 0);
    assert.equal(router.metrics().primarySuccesses, 1);
    assert.equal(router.privacyTier(), 'sovereign', 'the fake cloud is on loopback, so even it is sovereign');
  });

  test('a broken local model spills over to the cloud, with the reason on the answer', async () => {
    const router = new RoutingDriver({ primary: local(models.missing), fallback: remote() });
    let streamed = '';
    const response = await router.complete({ messages: hello, onText: (t) => (streamed += t) });
    assert.equal(response.text, CLOUD_REPLY);
    assert.equal(streamed, CLOUD_REPLY);
    assert.equal(response.entryKind, 'remote');
    assert.equal(response.spilledAfter?.kind, 'model_not_found');
    assert.match(response.routeReason ?? '', /spilled over after model_not_found: The model file does not exist/);
    assert.equal(cloud.chatRequests().length, 1);
    const m = router.metrics();
    assert.equal(m.spillovers, 1);
    assert.equal(m.primaryFailures, 1);
    assert.equal(m.fallbackSuccesses, 1);
    assert.equal(m.fallbackSuccessRate, 1);
  });

  test('local only with a broken local model sends zero requests to the cloud', async () => {
    const router = new RoutingDriver({ primary: local(models.badMagic), fallback: remote(), strategy: 'local-only' });
    await assert.rejects(router.complete({ messages: hello }), (error: unknown) => {
      assert.ok(error instanceof DriverError);
      assert.equal(error.kind, 'inference_failed');
      assert.match(error.message, /Not a GGUF/);
      return true;
    });
    assert.equal(cloud.requests.length, 0);
    assert.equal(router.metrics().primaryFailures, 1);
  });

  test('a native crash in llama.cpp spills over, and the next request gets a fresh host', async () => {
    const primary = local(models.missingFfn, { unsafeSkipValidation: true });
    const router = new RoutingDriver({ primary, fallback: remote() });
    const response = await router.complete({ messages: hello });
    assert.equal(response.text, CLOUD_REPLY);
    assert.equal(response.spilledAfter?.kind, 'inference_failed');
    assert.match(response.spilledAfter?.message ?? '', /stopped unexpectedly/);
    assert.equal(primary.crashCount(), 1);
    await primary.reconfigure({ modelPath: models.answer, unsafeSkipValidation: false });
    const again = await router.complete({ messages: hello });
    assert.equal(again.text, ANSWER);
    assert.equal(again.entryKind, 'local');
  });

  test('a conversation too long for the local context goes to the cloud before any local work', async () => {
    const router = new RoutingDriver({ primary: local(models.tiny), fallback: remote() });
    const long: ChatMessage[] = [{ role: 'user', content: 'word '.repeat(60) }];
    const response = await router.complete({ messages: long });
    assert.equal(response.text, CLOUD_REPLY);
    assert.equal(response.spilledAfter?.kind, 'context_overflow');
    const sent = cloud.chatRequests()[0]?.body as { messages: ChatMessage[] };
    assert.equal(sent.messages.at(-1)?.content, long[0]?.content, 'the latest message reaches the cloud whole');
  });

  test('cloud only answers from the remote without touching the local model', async () => {
    const primary = local(models.answer);
    const router = new RoutingDriver({ primary, fallback: remote(), strategy: 'cloud-only' });
    const response = await router.complete({ messages: hello });
    assert.equal(response.text, CLOUD_REPLY);
    assert.equal(response.model, 'cloud-model');
    assert.equal(primary.info(), null, 'the local model was never loaded');
  });

  test('a mid-stream cloud failure after spillover ends the answer incomplete, never on another model', async () => {
    const router = new RoutingDriver({ primary: local(models.missing), fallback: remote() });
    cloud.failNext({ kind: 'mid-stream-error', afterChunks: 2 });
    const response = await router.complete({ messages: hello });
    assert.equal(response.stopReason, 'error');
    assert.ok(response.incomplete);
    assert.ok(response.text.length > 0 && CLOUD_REPLY.startsWith(response.text), response.text);
    assert.equal(router.metrics().incompleteAnswers, 1);
  });
});
