/**
 * The local engine answering several requests at once on real llama.cpp: one context with N sequences,
 * one limit and one queue, cancels that touch only their own request, a forced host restart that the
 * other requests survive (retried when they had not started), and a model switch mid-answer.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DriverError } from '../../electron/core/errors.js';
import type { ChatMessage, CompletionResponse } from '../../electron/core/types.js';
import { LocalDriver, type LocalDriverOptions } from '../../electron/drivers/local-driver.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { freeze, killFrozen, trackingLauncher } from '../fixtures/hosts.js';
import { ANSWER, LOOP_WORDS, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

let models: FixtureModels;
/** The looping model with room for long answers. */
let longLoop: string;
const drivers: LocalDriver[] = [];

/** The loop model's exact text for `n` tokens. */
function ticks(n: number): string {
  return Array.from({ length: n }, (_, i) => LOOP_WORDS[i % 2]).join(' ');
}

function driver(modelPath: string, extra: Partial<LocalDriverOptions> = {}): LocalDriver {
  const d = new LocalDriver({ modelPath, gpu: false, ...extra });
  drivers.push(d);
  return d;
}

function ask(i: number): ChatMessage[] {
  return [{ role: 'user', content: `Client ${i} says hello` }];
}

before(() => {
  models = makeFixtureModels();
  longLoop = writeBigramModel(join(models.dir, 'long-loop.gguf'), { words: LOOP_WORDS, loop: true, contextLength: 4096, name: 'long-loop' });
});
after(async () => {
  killFrozen();
  await Promise.all(drivers.map((d) => d.dispose()));
  models.cleanup();
});

describe('parallel sequences', { timeout: 120_000 }, () => {
  test('every client gets its first text before any other finishes, with no text lost or mixed between streams', async () => {
    const d = driver(longLoop, { parallel: 3 });
    const info = await d.load();
    assert.equal(info.sequences, 3);
    const lengths = [300, 400, 500];
    const firstAt: number[] = [];
    const doneAt: number[] = [];
    const streams = ['', '', ''];
    const results = await Promise.all(
      lengths.map((maxTokens, i) =>
        d.complete({
          messages: ask(i),
          maxTokens,
          onText: (t) => {
            firstAt[i] ??= performance.now();
            streams[i] += t;
          },
        }).then((r) => {
          doneAt[i] = performance.now();
          return r;
        }),
      ),
    );
    const firstFinish = Math.min(...doneAt);
    results.forEach((r, i) => {
      assert.equal(r.text, ticks(lengths[i]!), `client ${i}'s answer`);
      assert.equal(streams[i], r.text, `client ${i}'s stream carries exactly its own text`);
      assert.equal(r.usage.outputTokens, lengths[i]);
      assert.ok(firstAt[i]! < firstFinish, `client ${i}'s first text came ${firstAt[i]! - firstFinish} ms after the first client finished`);
    });
  });

  test('a request arriving while others generate, on a sequence holding an older prompt, is answered before they finish', async () => {
    const d = driver(longLoop, { parallel: 3 });
    await d.load();
    // Every sequence holds a prompt and its answer, so the late request's sequence must be erased first.
    await Promise.all([0, 1, 2].map((i) => d.complete({ messages: ask(i), maxTokens: 20 })));
    let longDone = false;
    let lateDoneFirst = null as boolean | null;
    let late = null as Promise<CompletionResponse> | null;
    const longs = [3, 4].map((i) => d.complete({
      messages: ask(i),
      maxTokens: 2000,
      onText: () => {
        late ??= d.complete({ messages: ask(5), maxTokens: 4 }).then((r) => {
          lateDoneFirst ??= !longDone;
          return r;
        });
      },
    }).then((r) => {
      longDone = true;
      return r;
    }));
    for (const long of longs) assert.equal((await long).text, ticks(2000));
    assert.ok(late, 'the long answers streamed');
    assert.equal((await late!).text, ticks(4));
    assert.equal(lateDoneFirst, true, 'the late request waited for the long answers to end');
  });

  test('one limit and one queue: N generate, the queue holds the next, the rest get rate_limited with a Retry-After', async () => {
    const d = driver(longLoop, { parallel: 2, maxQueue: 1 });
    await d.load();
    const stop = new AbortController();
    const running = [0, 1].map((i) => d.complete({ messages: ask(i), signal: stop.signal }));
    const queued = d.complete({ messages: ask(2), maxTokens: 4 });
    assert.equal(d.queueLength(), 1);
    const refused = await d.complete({ messages: ask(3) }).then(
      () => assert.fail('a request beyond the queue must be refused'),
      (error: unknown) => error as DriverError,
    );
    assert.equal(refused.kind, 'rate_limited');
    assert.match(refused.message, /2 answers are being written and 1 waiting/);
    assert.ok((refused.retryAfterMs ?? 0) >= 1000, String(refused.retryAfterMs));
    stop.abort();
    for (const r of await Promise.all(running)) assert.equal(r.stopReason, 'aborted');
    // The queued request got a sequence as soon as one was free.
    assert.equal((await queued).text, ticks(4));
    assert.equal(d.queueLength(), 0);
  });

  test('cancelling one request never disturbs another', async () => {
    const d = driver(longLoop, { parallel: 2 });
    await d.load();
    const cancel = new AbortController();
    let pieces = 0;
    const [kept, cancelled] = await Promise.all([
      d.complete({ messages: ask(0), maxTokens: 600 }),
      d.complete({
        messages: ask(1),
        signal: cancel.signal,
        onText: () => {
          if (++pieces === 3) cancel.abort();
        },
      }),
    ]);
    assert.equal(cancelled.stopReason, 'aborted');
    assert.ok(cancelled.text.startsWith('tick tock'), cancelled.text);
    assert.equal(kept.stopReason, 'length');
    assert.equal(kept.text, ticks(600));
  });

  test('a forced host restart: the stuck answer keeps its text, a streaming one ends with a clear error, one not started runs again', async () => {
    const { launcher, launched } = trackingLauncher();
    const d = driver(longLoop, { parallel: 3, launcher, abortGraceMs: 300 });
    await d.load();
    const stop = new AbortController();
    let stuckText = '';
    let otherText = '';
    let started!: () => void;
    const bothStreaming = new Promise<void>((resolve) => (started = resolve));
    const check = (): void => {
      if (stuckText && otherText) started();
    };
    const stuck = d.complete({ messages: ask(0), signal: stop.signal, onText: (t) => ((stuckText += t), check()) });
    const other = d.complete({ messages: ask(1), maxTokens: 3500, onText: (t) => ((otherText += t), check()) }).then(
      (r) => assert.fail(`the streaming answer cannot have finished on a frozen host: ${r.stopReason}`),
      (error: unknown) => error as DriverError,
    );
    await bothStreaming;
    const host = launched[0]!;
    freeze(host.pid!);
    // Sent to the frozen host: it has produced nothing when the restart comes.
    const notStarted = d.complete({ messages: ask(2), maxTokens: 6 });
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();

    const stopped = await stuck;
    assert.equal(stopped.stopReason, 'aborted');
    assert.equal(stopped.text, stuckText, 'the stuck answer keeps what it streamed');
    const cut = await other;
    assert.equal(cut.kind, 'inference_failed');
    assert.match(cut.message, /restarted because another answer did not stop; this answer was cut short/);
    assert.equal(cut.spillable, true);
    const again: CompletionResponse = await notStarted;
    assert.equal(again.text, ticks(6), 'the request that had not started was answered by the new host');
    assert.equal(launched.length, 2);
  });

  test('switching the model mid-answer ends that answer as switched with its text; a request not started runs on the new model', async () => {
    const d = driver(longLoop, { parallel: 2 });
    await d.load();
    let text = '';
    let switching!: Promise<void>;
    let waiting!: Promise<CompletionResponse>;
    const answer = await d.complete({
      messages: ask(0),
      onText: (t) => {
        text += t;
        if (!switching) {
          waiting = d.complete({ messages: ask(1) });
          switching = d.reconfigure({ modelPath: models.answer });
        }
      },
    });
    await switching;
    assert.equal(answer.stopReason, 'switched');
    assert.ok(answer.text.startsWith('tick') && answer.text === text, 'the partial text is kept');
    const next = await waiting;
    assert.equal(next.text, ANSWER);
    assert.equal(next.stopReason, 'stop');
    assert.equal(d.info()?.modelName, 'answer-model');
  });
});
