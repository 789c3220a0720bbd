/**
 * The parallel local engine as the app and its clients see it: a busy engine answers /v1 with 429 and a
 * Retry-After under Local only and spills over under Local first, a model switch mid-answer ends the answer
 * as switched (not a cancel), the engine status shows how many requests it answers at once, and deleting a
 * conversation drops its saved prompt.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stateFileName } from '../../electron/inference/state-cache.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { ANSWER, LOOP_WORDS, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { startHarness, type Harness } from '../fixtures/server-harness.js';
import { call, nextEvent } from '../fixtures/service-calls.js';

let models: FixtureModels;
let longLoop: string;
let h: Harness;

/** Sends `count` /v1 requests at once; resolves with each one's status, Retry-After and X-Spillway-Driver. */
async function burst(url: string, count: number, maxTokens: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'auto', max_tokens: maxTokens, messages: [{ role: 'user', content: `request ${i}` }] }),
      });
      const body = (await response.json()) as { error?: { type: string; message: string } };
      return { status: response.status, retryAfter: response.headers.get('retry-after'), driver: response.headers.get('x-spillway-driver'), body };
    }),
  );
}

before(async () => {
  models = makeFixtureModels();
  longLoop = writeBigramModel(join(models.dir, 'long-loop.gguf'), { words: LOOP_WORDS, loop: true, contextLength: 4096, name: 'long-loop' });
  h = await startHarness();
});
after(async () => {
  await h.close();
  models.cleanup();
});

describe('the parallel engine through the services', { timeout: 180_000 }, () => {
  test('under Local only, 50 requests at once: the sequences and the queue answer, the rest get 429 with Retry-After', async () => {
    const services = await h.makeServices({ local: { modelPath: longLoop, parallel: 2 }, routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    const status = await call(services, 'engine:status', {});
    assert.equal(status.state, 'not-loaded');
    await call(services, 'models:setActive', { path: longLoop });
    const results = await burst(server.url, 50, 300);
    const answered = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 429);
    assert.equal(answered.length, 2 + 16, 'two sequences plus a queue of sixteen');
    assert.equal(busy.length, 50 - 18);
    for (const r of busy) {
      assert.ok(r.retryAfter !== null && Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`);
      assert.equal(r.body.error?.type, 'rate_limit_error');
      assert.match(r.body.error?.message ?? '', /The local model is busy/);
    }
    assert.equal(h.cloud.chatRequests().length, 0, 'nothing left this computer');
    const engine = await call(services, 'engine:status', {});
    assert.equal(engine.info?.sequences, 2);
    assert.equal(engine.queueLength, 0);
  });

  test('under Local first, what the busy engine cannot take spills over to the endpoint', async () => {
    h.cloud.reset();
    const services = await h.makeServices({ local: { modelPath: longLoop, parallel: 2 }, routing: { strategy: 'local-first' } });
    const server = await h.serve(services);
    const results = await burst(server.url, 30, 300);
    assert.ok(results.every((r) => r.status === 200), JSON.stringify(results.filter((r) => r.status !== 200)[0]));
    const local = results.filter((r) => r.driver === 'local').length;
    const remote = results.filter((r) => r.driver === 'remote').length;
    assert.equal(local, 18);
    assert.equal(remote, 12);
    assert.equal(h.cloud.chatRequests().length, 12);
  });

  test('switching the model mid-answer ends it as switched with its text, not as a cancel; the next answer uses the new model', async () => {
    const services = await h.makeServices({ local: { modelPath: longLoop }, routing: { strategy: 'local-only' } });
    const firstDelta = nextEvent(services, 'chat:delta');
    const done = nextEvent(services, 'chat:done');
    const sent = await call(services, 'chat:send', { content: 'Talk for a long time' });
    await firstDelta;
    await call(services, 'models:setActive', { path: models.answer });
    const { result } = await done;
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.value.meta?.stopReason, 'switched');
    assert.ok(result.value.content.startsWith('tick'), result.value.content);
    const stored = await call(services, 'conversations:get', { id: sent.conversationId });
    assert.equal(stored.messages.at(-1)?.content, result.value.content, 'the partial answer is stored');
    const metrics = await call(services, 'metrics:get', {});
    assert.equal(metrics.cancelled, 0, 'a switch is not the person cancelling');
    assert.ok(metrics.events.some((e) => e.outcome === 'switched'), JSON.stringify(metrics.events));

    // A new conversation: the partial answer may already be longer than the new model's context.
    const again = nextEvent(services, 'chat:done');
    await call(services, 'chat:send', { content: 'And now?' });
    const next = (await again).result;
    assert.ok(next.ok, JSON.stringify(next));
    assert.equal(next.value.content, ANSWER);
  });

  test('a deleted conversation’s saved prompt is dropped from the cache folder', async () => {
    const services = await h.makeServices({ local: { modelPath: models.answer, parallel: 1 }, routing: { strategy: 'local-only' } });
    const ask = async (content: string, conversationId?: string): Promise<string> => {
      const done = nextEvent(services, 'chat:done');
      const sent = await call(services, 'chat:send', { content, ...(conversationId ? { conversationId } : {}) });
      const { result } = await done;
      assert.ok(result.ok, JSON.stringify(result));
      return sent.conversationId;
    };
    const long = 'tell me about the sea and the ships on it, '.repeat(5);
    const first = await ask(`first: ${long}`);
    // One sequence: the second conversation evicts the first, whose state is saved.
    await ask(`second: ${long}`);
    const dir = join(h.tmp, readdirSync(h.tmp).filter((d) => d.startsWith('data-')).find((d) => existsSync(join(h.tmp, d, 'prompt-cache', stateFileName(first))))!, 'prompt-cache');
    assert.ok(existsSync(join(dir, stateFileName(first))), 'the evicted conversation was saved');
    await call(services, 'conversations:delete', { id: first });
    assert.equal(existsSync(join(dir, stateFileName(first))), false);
  });

  test('local.parallel is validated like every setting, and null leaves it to the memory fit', async () => {
    const services = await h.makeServices({});
    for (const bad of [0, 17, 2.5, 'four']) {
      const result = await services.call('settings:set', { patch: { local: { parallel: bad } } });
      assert.ok(!result.ok, `parallel ${bad} was accepted`);
      assert.equal(result.error.code, 'INVALID_ARGUMENT');
      assert.match(result.error.message, /local\.parallel/);
    }
    assert.equal((await call(services, 'settings:set', { patch: { local: { parallel: 3 } } })).local.parallel, 3);
    assert.equal((await call(services, 'settings:set', { patch: { local: { parallel: null } } })).local.parallel, null);
  });
});
