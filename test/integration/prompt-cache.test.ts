/**
 * The prompt cache on real llama.cpp, shown by the cached-token count: a conversation's request goes to
 * the sequence holding its prefix (by its key, or by a shared prefix for keyless /v1 requests), an evicted
 * conversation's state is saved to disk and restored when it comes back, and deleting the conversation or
 * changing the model drops it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChatMessage, CompletionResponse } from '../../electron/core/types.js';
import { LocalDriver, type LocalDriverOptions } from '../../electron/drivers/local-driver.js';
import { stateFileName } from '../../electron/inference/state-cache.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { ANSWER, LOOP_WORDS, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

let models: FixtureModels;
let model: string;
/** Repeats "tick tock" until stopped, with room for long answers. */
let loopModel: string;
const drivers: LocalDriver[] = [];
const dirs: string[] = [];

function driver(extra: Partial<LocalDriverOptions> = {}): LocalDriver {
  const d = new LocalDriver({ modelPath: model, gpu: false, parallel: 2, ...extra });
  drivers.push(d);
  return d;
}

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-prompt-cache-'));
  dirs.push(dir);
  return dir;
}

/** A long opening message per conversation, so each prompt is a few hundred tokens. */
function opening(name: string): ChatMessage[] {
  return [{ role: 'user', content: `${name}: ${'tell me a long story about the sea and the ships on it, '.repeat(6)}` }];
}

/** The conversation with its answer and a next question. */
function next(history: ChatMessage[], answer: CompletionResponse, question: string): ChatMessage[] {
  return [...history, { role: 'assistant', content: answer.text }, { role: 'user', content: question }];
}

before(() => {
  models = makeFixtureModels();
  model = writeBigramModel(join(models.dir, 'answer-2k.gguf'), { contextLength: 2048, name: 'answer-2k' });
  loopModel = writeBigramModel(join(models.dir, 'loop-2k.gguf'), { words: LOOP_WORDS, loop: true, contextLength: 2048, name: 'loop-2k' });
});
after(async () => {
  await Promise.all(drivers.map((d) => d.dispose()));
  models.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Conversation A, then B, then A again (affinity), then C and D (which take both sequences, so A is
 * evicted), then A again. Returns A's answers.
 */
async function session(d: LocalDriver) {
  const a = opening('A');
  const a1 = await d.complete({ messages: a, affinityKey: 'A' });
  await d.complete({ messages: opening('B'), affinityKey: 'B' });
  const a2History = next(a, a1, 'And then?');
  const a2 = await d.complete({ messages: a2History, affinityKey: 'A' });
  await d.complete({ messages: opening('C'), affinityKey: 'C' });
  await d.complete({ messages: opening('D'), affinityKey: 'D' });
  const a3 = await d.complete({ messages: next(a2History, a2, 'What happened last?'), affinityKey: 'A' });
  return { a1, a2, a3 };
}

describe('prompt cache', { timeout: 120_000 }, () => {
  test('a conversation returns to its own sequence, and after eviction its state comes back from disk', async () => {
    const dir = cacheDir();
    const d = driver({ stateCacheDir: dir });
    const { a1, a2, a3 } = await session(d);
    for (const r of [a1, a2, a3]) assert.equal(r.text, ANSWER);
    assert.ok(a1.usage.inputTokens > 100, `A's opening is ${a1.usage.inputTokens} tokens`);
    // B took the other sequence, so A's whole first turn was still there.
    assert.ok((a2.usage.cachedInputTokens ?? 0) >= a1.usage.inputTokens, JSON.stringify(a2.usage));
    // C and D evicted A; its state was saved and restored: everything up to the last answer is reused.
    assert.ok((a3.usage.cachedInputTokens ?? 0) >= a2.usage.inputTokens, JSON.stringify(a3.usage));
    assert.ok(existsSync(join(dir, stateFileName('B'))), 'the evicted B was saved too');

    // Deleting a conversation drops its saved state.
    await d.forget('B');
    assert.equal(existsSync(join(dir, stateFileName('B'))), false);
  });

  test('an eviction and a restore while other answers stream: saved, restored, and answered before they end', async () => {
    const dir = cacheDir();
    const d = driver({ modelPath: loopModel, parallel: 3, stateCacheDir: dir });
    const a = opening('A');
    const a1 = await d.complete({ messages: a, affinityKey: 'A', maxTokens: 8 });
    await Promise.all(['B', 'C'].map((key) => d.complete({ messages: opening(key), affinityKey: key, maxTokens: 8 })));
    // D and E take the sequences of A and B (saved); A's next turn then takes C's, which must be saved
    // first, and loads A's state, while D and E generate.
    let longDone = false;
    let next2 = null as Promise<CompletionResponse> | null;
    let doneFirst = null as boolean | null;
    const longs = ['D', 'E'].map((key) => d.complete({
      messages: opening(key),
      affinityKey: key,
      maxTokens: 1500,
      onText: () => {
        next2 ??= d.complete({ messages: next(a, a1, 'And then?'), affinityKey: 'A', maxTokens: 4 }).then((r) => {
          doneFirst ??= !longDone;
          return r;
        });
      },
    }).then((r) => {
      longDone = true;
      return r;
    }));
    for (const long of longs) assert.equal((await long).usage.outputTokens, 1500);
    assert.ok(next2, 'the long answers streamed');
    const a2 = await next2!;
    assert.equal(a2.text, 'tick tock tick tock');
    assert.ok((a2.usage.cachedInputTokens ?? 0) >= a1.usage.inputTokens, `restored from disk: ${JSON.stringify(a2.usage)}`);
    assert.ok(existsSync(join(dir, stateFileName('C'))), 'the evicted C was saved');
    assert.equal(doneFirst, true, 'the eviction and restore waited for the long answers to end');
  });

  test('without the disk cache the evicted conversation is evaluated again from the start', async () => {
    const { a2, a3 } = await session(driver());
    assert.ok((a3.usage.cachedInputTokens ?? 0) < 32, `only the chat template's opening may match: ${JSON.stringify(a3.usage)}`);
    assert.ok(a3.usage.inputTokens > a2.usage.inputTokens, 'the third turn is longer than the second');
  });

  test('keyless requests (/v1) go to the sequence sharing their prefix, not the least recently used one', async () => {
    const d = driver();
    const system = (name: string): ChatMessage => ({ role: 'system', content: `You are ${name}. ${'Always answer politely and in full sentences. '.repeat(8)}` });
    const s1 = await d.complete({ messages: [system('the helper'), { role: 'user', content: 'one' }] });
    const t1 = await d.complete({ messages: [system('the critic'), { role: 'user', content: 'one' }] });
    await d.complete({ messages: [system('the helper'), { role: 'user', content: 'two' }] });
    // The critic's sequence is now the least recently used; the helper's prompt still finds its own.
    const s3 = await d.complete({ messages: [system('the helper'), { role: 'user', content: 'three' }] });
    const t2 = await d.complete({ messages: [system('the critic'), { role: 'user', content: 'two' }] });
    assert.ok((s3.usage.cachedInputTokens ?? 0) >= s1.usage.inputTokens - 20, JSON.stringify({ s1: s1.usage, s3: s3.usage }));
    assert.ok((t2.usage.cachedInputTokens ?? 0) >= t1.usage.inputTokens - 20, JSON.stringify({ t1: t1.usage, t2: t2.usage }));
  });

  test('another model empties the folder; a state of the old model is never loaded into it', async () => {
    const dir = cacheDir();
    const d = driver({ stateCacheDir: dir });
    await session(d);
    assert.ok(readdirSync(dir).some((f) => f.endsWith('.state')), 'the first model left saved states');
    await d.reconfigure({ modelPath: models.answer });
    await d.load();
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.state')), []);
    const fresh = await d.complete({ messages: opening('A'), affinityKey: 'A' });
    assert.equal(fresh.text, ANSWER);
    assert.ok((fresh.usage.cachedInputTokens ?? 0) < 32, JSON.stringify(fresh.usage));
  });

  test('the folder keeps to its size cap, dropping the least recently used states', async () => {
    const dir = cacheDir();
    // A state of these conversations is about 100 kB: room for one.
    const cap = 150_000;
    const d = driver({ stateCacheDir: dir, stateCacheMaxBytes: cap });
    await session(d);
    const states = readdirSync(dir).filter((f) => f.endsWith('.state'));
    assert.equal(states.length, 1, 'three conversations were evicted; only the latest fits');
    const total = states.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    assert.ok(total <= cap && total > 50_000, `${total} bytes on disk`);
  });
});
