import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DriverError } from '../../electron/core/errors.js';
import type { ChatMessage } from '../../electron/core/types.js';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { trackingLauncher } from '../fixtures/hosts.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

const hello: ChatMessage[] = [{ role: 'user', content: 'Hello there' }];
let models: FixtureModels;
const drivers: LocalDriver[] = [];

function driver(modelPath: string, extra: Partial<ConstructorParameters<typeof LocalDriver>[0]> = {}): LocalDriver {
  const d = new LocalDriver({ modelPath, gpu: false, ...extra });
  drivers.push(d);
  return d;
}

async function rejectsWith(promise: Promise<unknown>, kind: DriverError['kind'], pattern?: RegExp): Promise<DriverError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DriverError, `expected a DriverError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected a ${kind} error`);
}

before(() => {
  models = makeFixtureModels();
});
after(async () => {
  await Promise.all(drivers.map((d) => d.dispose()));
  models.cleanup();
});

describe('local driver on real llama.cpp', () => {
  test('produces the exact text the generated model is built to say, streamed in order', async () => {
    const d = driver(models.answer);
    const deltas: string[] = [];
    const response = await d.complete({ messages: hello, temperature: 0, onText: (t) => deltas.push(t) });
    assert.equal(response.text, ANSWER);
    assert.equal(deltas.join(''), ANSWER);
    assert.ok(deltas.length >= 1);
    assert.equal(response.stopReason, 'stop');
    assert.equal(response.entryId, 'local');
    assert.equal(response.model, 'answer-model');
    assert.equal(response.usage.outputTokens, 5);
    assert.ok(response.usage.inputTokens > 0);
    assert.ok(response.timings.timeToFirstTokenMs !== null && response.timings.timeToFirstTokenMs <= response.timings.totalMs);
    const info = d.info();
    assert.ok(info);
    assert.equal(info.backend, 'cpu');
    assert.equal(info.trainedContextSize, 512);
    assert.equal(info.contextSize, 512);
    assert.equal(d.contextWindow(), 512);
    assert.equal(info.threads, info.defaultThreads);
    assert.equal(info.sequences, info.defaultSequences, 'without a setting the memory fit decides');
    assert.ok(info.sequences >= 1 && info.sequences <= 4, String(info.sequences));
    assert.equal(d.privacyTier(), 'sovereign');
  });

  test('stops at maxTokens with stop reason length', async () => {
    const d = driver(models.loop);
    const response = await d.complete({ messages: hello, maxTokens: 7 });
    assert.equal(response.stopReason, 'length');
    assert.equal(response.text, 'tick tock tick tock tick tock tick');
    assert.equal(response.usage.outputTokens, 7);
  });

  test('a second chat turn reuses the KV cache instead of evaluating the whole prompt again', async () => {
    const d = driver(models.answer, { threads: 1 });
    const first = await d.complete({ messages: hello });
    const turn2: ChatMessage[] = [...hello, { role: 'assistant', content: first.text }, { role: 'user', content: 'And again' }];
    const count = await d.countTokens(turn2);
    const second = await d.complete({ messages: turn2 });
    assert.equal(second.text, ANSWER);
    assert.equal(second.usage.inputTokens, count);
    assert.equal(first.usage.cachedInputTokens, 0);
    // Everything up to the first answer was already evaluated; only the new turn is.
    assert.ok((second.usage.cachedInputTokens ?? 0) >= first.usage.inputTokens, JSON.stringify(second.usage));
    assert.equal(d.info()?.threads, 1);
  });

  test('abort stops generation quickly and returns the partial text', async () => {
    const d = driver(models.loop);
    const controller = new AbortController();
    let streamed = '';
    let abortedAt = 0;
    const pending = d.complete({
      messages: hello,
      signal: controller.signal,
      onText: (t) => {
        streamed += t;
        if (streamed.length > 40 && !controller.signal.aborted) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    const response = await pending;
    const stopMs = performance.now() - abortedAt;
    assert.equal(response.stopReason, 'aborted');
    assert.ok(response.text.startsWith('tick tock'), response.text);
    assert.ok(response.text.length >= 40);
    assert.ok(stopMs < 1000, `abort took ${stopMs} ms`);
    // The driver is usable right after.
    const next = await d.complete({ messages: hello, maxTokens: 2 });
    assert.equal(next.text, 'tick tock');
  });

  test('with one sequence, concurrent requests run one at a time in arrival order, none lost or interleaved', async () => {
    const d = driver(models.loop, { parallel: 1 });
    await d.load();
    const order: number[] = [];
    const texts = new Map<number, string>();
    const lengths = [3, 5, 2, 4];
    const runs = lengths.map((maxTokens, i) =>
      d.complete({
        messages: [{ role: 'user', content: `request ${i}` }],
        maxTokens,
        onText: (t) => {
          if (order.at(-1) !== i) order.push(i);
          texts.set(i, (texts.get(i) ?? '') + t);
        },
      }),
    );
    assert.equal(d.queueLength(), 3);
    const results = await Promise.all(runs);
    assert.deepEqual(order, [0, 1, 2, 3]);
    results.forEach((r, i) => {
      assert.equal(r.usage.outputTokens, lengths[i]);
      assert.equal(texts.get(i), r.text);
    });
    assert.equal(d.queueLength(), 0);
  });

  test('a full queue refuses new requests with a clear error and a Retry-After; a queued request can be cancelled', async () => {
    const d = driver(models.loop, { maxQueue: 1, parallel: 1 });
    await d.load();
    const stop = new AbortController();
    const running = d.complete({ messages: hello, signal: stop.signal });
    const cancelMe = new AbortController();
    const queued = d.complete({ messages: hello, signal: cancelMe.signal, maxTokens: 2 });
    const busy = await rejectsWith(d.complete({ messages: hello }), 'rate_limited', /busy: 1 answer is being written and 1 waiting; try again in \d+ s/);
    assert.ok(busy.retryAfterMs !== undefined && busy.retryAfterMs >= 1000 && busy.retryAfterMs <= 60_000, String(busy.retryAfterMs));
    assert.equal(busy.spillable, true, 'a busy local model lets Local first spill over');
    cancelMe.abort();
    const q = await queued;
    assert.equal(q.stopReason, 'aborted');
    assert.equal(q.text, '');
    stop.abort();
    assert.equal((await running).stopReason, 'aborted');
  });

  test('refuses a prompt that does not fit the context instead of dropping the message', async () => {
    const d = driver(models.tiny);
    const long: ChatMessage[] = [{ role: 'user', content: 'x'.repeat(400) }];
    await rejectsWith(d.complete({ messages: long }), 'context_overflow', /128 tokens/);
    await rejectsWith(d.complete({ messages: hello, maxTokens: 200 }), 'context_overflow');
    const ok = await d.complete({ messages: hello });
    assert.equal(ok.text, ANSWER);
  });

  test('malformed and missing files fail with errors that name the problem', async () => {
    await rejectsWith(driver(models.missing).complete({ messages: hello }), 'model_not_found', /does not exist/);
    await rejectsWith(driver(models.badMagic).complete({ messages: hello }), 'inference_failed', /Not a GGUF/);
    await rejectsWith(driver(models.truncated).complete({ messages: hello }), 'inference_failed', /truncated|damaged/);
    const d = driver(models.missingFfn);
    await rejectsWith(d.complete({ messages: hello }), 'inference_failed', /llama\.feed_forward_length/);
    assert.equal(d.crashCount(), 0, 'validation caught it before llama.cpp could abort');
  });

  test('a load stopped while the file is being checked never starts a host', async () => {
    const { launcher, launched } = trackingLauncher();
    const d = driver(models.answer, { launcher });
    const loading = d.load();
    await d.dispose();
    await rejectsWith(loading, 'aborted', /stopped before the model loaded/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(launched.length, 0, 'no host outlives the driver that was stopped');
  });

  test('a native abort kills only the host; the driver reports it and restarts on the next request', async () => {
    const d = driver(models.missingFfn, { unsafeSkipValidation: true });
    await rejectsWith(d.complete({ messages: hello }), 'inference_failed', /stopped unexpectedly/);
    assert.equal(d.crashCount(), 1);
    await d.reconfigure({ modelPath: models.answer, unsafeSkipValidation: false });
    const response = await d.complete({ messages: hello });
    assert.equal(response.text, ANSWER);
  });
});
