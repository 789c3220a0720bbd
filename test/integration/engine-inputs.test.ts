/**
 * Inputs that must not stall the local engine, on real llama.cpp: an over-long prompt is refused from a
 * cheap bound (or by counting in chunks) while another request keeps streaming, and a hostile GGUF header
 * is refused at once, as the engine's model and as a file being added, without reaching any process that
 * parses it. Files being added are read in a short-lived process, never on the engine's host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Events } from '../../electron/contract/index.js';
import { DriverError } from '../../electron/core/errors.js';
import type { ChatMessage } from '../../electron/core/types.js';
import { LocalDriver, type LocalDriverOptions } from '../../electron/drivers/local-driver.js';
import { ModelInspector } from '../../electron/drivers/model-inspector.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { trackingLauncher } from '../fixtures/hosts.js';
import { isRunning, until } from '../fixtures/processes.js';
import { LOOP_WORDS, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

let models: FixtureModels;
let longLoop: string;
/**
 * A 131 072-token context and a 37-byte token in its vocabulary: the byte bound lets through prompts of up
 * to about 9.7 MB, far more tokens than the context holds.
 */
let wideLoop: string;
const drivers: LocalDriver[] = [];
const open: Services[] = [];
const dirs: string[] = [];

function driver(modelPath: string, extra: Partial<LocalDriverOptions> = {}): LocalDriver {
  const d = new LocalDriver({ modelPath, gpu: false, ...extra });
  drivers.push(d);
  return d;
}

/**
 * Streams a long answer and runs `during` once it has started; returns the longest silence of the stream
 * from the start of `during` to its first piece after `during` ended, and `during`'s result.
 */
async function whileStreaming<T>(d: LocalDriver, during: () => Promise<T>): Promise<{ maxGapMs: number; result: T; text: string }> {
  let last = 0;
  let maxGapMs = 0;
  let phase: 'before' | 'during' | 'after' | 'done' = 'before';
  let begin!: () => void;
  const begun = new Promise<void>((resolve) => (begin = resolve));
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  const streaming = d.complete({
    messages: [{ role: 'user', content: 'Keep talking' }],
    maxTokens: 3000,
    onText: () => {
      const now = performance.now();
      if (phase === 'during' || phase === 'after') maxGapMs = Math.max(maxGapMs, now - last);
      if (phase === 'after') {
        phase = 'done';
        resume();
      }
      last = now;
      begin();
    },
  });
  await begun;
  phase = 'during';
  const result = await during();
  phase = 'after';
  await Promise.race([resumed, streaming]);
  const response = await streaming;
  return { maxGapMs, result, text: response.text };
}

async function refusal(promise: Promise<unknown>): Promise<{ error: DriverError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DriverError, String(error));
    return { error, ms: performance.now() - started };
  }
  assert.fail('expected a refusal');
}

before(() => {
  models = makeFixtureModels();
  longLoop = writeBigramModel(join(models.dir, 'long-loop.gguf'), { words: LOOP_WORDS, loop: true, contextLength: 4096, name: 'long-loop' });
  wideLoop = writeBigramModel(join(models.dir, 'wide-loop.gguf'), { words: [...LOOP_WORDS, 'supercalifragilisticexpialidocious'], loop: true, contextLength: 131_072, name: 'wide-loop' });
});
after(async () => {
  await Promise.all(drivers.map((d) => d.dispose()));
  await Promise.all(open.map((s) => s.shutdown()));
  models.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('over-long prompts', { timeout: 120_000 }, () => {
  test('a 10 MB prompt is refused in under a second while another request keeps streaming', async () => {
    const d = driver(longLoop, { parallel: 2 });
    await d.load();
    const huge: ChatMessage[] = [{ role: 'user', content: 'x'.repeat(10 * 1024 * 1024 - 200) }];
    const { maxGapMs, result, text } = await whileStreaming(d, () => refusal(d.countTokens(huge)));
    assert.equal(result.error.kind, 'context_overflow');
    assert.match(result.error.message, /is 10\.0 MB of text, far more than the local model's context of 4096 tokens can hold .* refused without reading it/);
    assert.ok(result.ms < 1000, `refused after ${result.ms} ms`);
    assert.ok(maxGapMs < 500, `the other stream went silent for ${maxGapMs} ms`);
    assert.ok(text.startsWith('tick tock') && text.split(' ').length === 3000, 'the other answer is whole');
    // Generating it directly is refused the same way (the router counts first, a driver caller may not).
    assert.equal((await refusal(d.complete({ messages: huge }))).error.kind, 'context_overflow');
  });

  test('a prompt under the byte bound but beyond the context is refused by counting in chunks, without stalling the other stream', async () => {
    const d = driver(wideLoop, { parallel: 2, contextSize: 131_072 });
    const info = await d.load();
    assert.equal(info.contextSize, 131_072);
    // About 8 M tokens in 8 MB: tokenised whole, it holds the host for seconds (measured here: ~2.5 s).
    const long: ChatMessage[] = [{ role: 'user', content: 'x y '.repeat(2_000_000) }];
    const { maxGapMs, result } = await whileStreaming(d, () => refusal(d.complete({ messages: long })));
    assert.ok(maxGapMs < 500, `the other stream went silent for ${maxGapMs} ms`);
    assert.ok(result.ms < 1000, `refused after ${result.ms} ms`);
    assert.equal(result.error.kind, 'context_overflow');
    assert.match(result.error.message, /more tokens than the local model's context of 131072; it was refused after reading part of it/);
  });
});

describe('hostile GGUF headers', { timeout: 120_000 }, () => {
  test('as the engine model (--model): refused within a second, no host started, memory bounded', async () => {
    const { launcher, launched } = trackingLauncher();
    const d = driver(models.hostile, { launcher });
    const before = process.memoryUsage().rss;
    const { error, ms } = await refusal(d.complete({ messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(error.kind, 'inference_failed');
    assert.match(error.message, /damaged or hostile and was not read: the header claims more than 2\^53 tensors/);
    assert.ok(ms < 1000, `refused after ${ms} ms`);
    assert.equal(launched.length, 0, 'the file never reached a process that parses it');
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'memory stayed bounded');
    assert.equal(d.status().state, 'error');
  });

  test('through models:add on a healthy server: refused within a second, and the engine keeps answering', async () => {
    const { launcher, launched } = trackingLauncher();
    const dataDir = mkdtempSync(join(tmpdir(), 'spillway-inputs-'));
    dirs.push(dataDir);
    const s = await createServices({ dataDir, mode: 'headless', version: 'test', secrets: new MemorySecretStore(), launcher, overrides: { local: { modelPath: models.answer } } });
    open.push(s);
    const engine = launched.length;
    const started = performance.now();
    const added = await s.call('models:add', { path: models.hostile });
    const ms = performance.now() - started;
    assert.ok(!added.ok, 'the hostile file was added');
    assert.equal(added.error.code, 'INVALID_ARGUMENT');
    assert.match(added.error.message, /cannot be used as a model: The GGUF file is damaged or hostile/);
    assert.ok(ms < 1000, `refused after ${ms} ms`);
    assert.equal(launched.length, engine, 'no process was started to read it');
    const done = new Promise<Events['chat:done']>((resolve) => s.on('chat:done', resolve));
    assert.ok((await s.call('chat:send', { content: 'Hello' })).ok, 'chat:send was refused');
    const answer = (await done).result;
    assert.ok(answer.ok, JSON.stringify(answer));
  });

  test('a file being added is read in a short-lived process of its own, never on the engine host', async () => {
    const { launcher, launched } = trackingLauncher();
    const engine = driver(models.answer, { launcher });
    await engine.load();
    const inspector = new ModelInspector({ launcher });
    const inspection = await inspector.inspect(longLoop);
    assert.equal(inspection.name, 'long-loop');
    assert.equal(launched.length, 2, 'one host for the engine, one for the inspection');
    const reader = launched[1]!;
    assert.notEqual(reader.pid, launched[0]!.pid);
    // It exits on its own once no inspection comes.
    assert.ok(await until(() => !isRunning(reader.pid!), 10_000, 50), 'the inspection process exited');
    assert.equal(isRunning(launched[0]!.pid!), true, 'the engine host is untouched');
  });

  test('an inspection that passes its deadline is stopped with a clear error', async () => {
    const inspector = new ModelInspector({ deadlineMs: 50 });
    const { error } = await refusal(inspector.inspect(longLoop));
    assert.equal(error.kind, 'timeout');
    assert.match(error.message, /took longer than 50 ms; it was stopped/);
    assert.equal(inspector.running(), false);
  });
});
