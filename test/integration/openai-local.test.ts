/**
 * /v1 chat completions on the local model, through the official SDK: stop texts, sampling options,
 * penalties, logit_bias, seeds, the app's temperature when none is sent, structured output (parse() with
 * a zod schema), logprobs and n choices. The fixture models are bigram models whose greedy answer is known;
 * the "soft" ones leave the rest of the vocabulary likely enough that sampling options visibly matter.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { LengthFinishReasonError } from 'openai/error';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import type { RunningServer } from '../../electron/server/http-server.js';
import { expectedAnswer, FIRST_ANSWER_TOKEN, writeBigramModel } from '../fixtures/gguf-writer.js';
import { hello, postApi, sdk, startHarness, type Harness } from '../fixtures/server-harness.js';

const ANSWER = expectedAnswer();
const LOOP = 'tick tock tick tock tick tock';
const FROM_TOKEN = FIRST_ANSWER_TOKEN + 1;
/** A bigram model whose greedy answer is this JSON object, one token per member. */
const JSON_WORDS = ['{"word":', '"hi",', '"count":', '3,', '"ok":', 'true}'];

let h: Harness;
let dir: string;
let answer: RunningServer;
let soft: RunningServer;
let softLoop: RunningServer;
let json: RunningServer;

/** A server whose only entry is a local model (the fake cloud is there, but never used). */
async function serveLocal(modelPath: string, temperature = 0): Promise<RunningServer> {
  const services = await h.makeServices({ local: { modelPath }, routing: { strategy: 'local-only' }, generation: { temperature } });
  return h.serve(services);
}

before(async () => {
  h = await startHarness();
  dir = mkdtempSync(join(tmpdir(), 'spillway-openai-local-'));
  answer = await serveLocal(writeBigramModel(join(dir, 'answer.gguf'), { name: 'answer-model' }));
  soft = await serveLocal(writeBigramModel(join(dir, 'soft.gguf'), { name: 'soft-model', successorLogit: 3 }));
  json = await serveLocal(writeBigramModel(join(dir, 'json.gguf'), { name: 'json-model', words: JSON_WORDS }));
  softLoop = await serveLocal(writeBigramModel(join(dir, 'soft-loop.gguf'), { name: 'soft-loop-model', words: ['tick', 'tock'], loop: true, successorLogit: 1.5 }));
});
after(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

type Extra = Record<string, unknown>;

async function complete(server: RunningServer, extra: Extra = {}) {
  return sdk(server).chat.completions.create({ model: 'auto', messages: hello, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
}

async function text(server: RunningServer, extra: Extra = {}): Promise<string> {
  return (await complete(server, extra)).choices[0]?.message.content ?? '';
}

async function stream(server: RunningServer, extra: Extra = {}): Promise<OpenAI.ChatCompletionChunk[]> {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  const s = await sdk(server).chat.completions.create({ model: 'auto', messages: hello, stream: true, ...extra } as OpenAI.ChatCompletionCreateParamsStreaming);
  for await (const chunk of s) chunks.push(chunk);
  return chunks;
}

const slow = { timeout: 120_000 };

describe('stop', slow, () => {
  test('generation ends before the stop text, which is left out, streaming or not', async () => {
    assert.equal(await text(answer), ANSWER);
    const before = ANSWER.slice(0, ANSWER.indexOf('local'));
    assert.equal(await text(answer, { stop: 'local' }), before);
    const stopped = await complete(answer, { stop: ['model', 'the'] });
    assert.equal(stopped.choices[0]?.message.content, ANSWER.slice(0, ANSWER.indexOf('the')), 'the earliest of several stop texts ends it');
    assert.equal(stopped.choices[0]?.finish_reason, 'stop');

    const chunks = await stream(answer, { stop: ['local'] });
    const deltas = chunks.map((c) => c.choices[0]?.delta.content ?? '');
    assert.equal(deltas.join(''), before);
    assert.ok(deltas.every((d) => !d.includes('loc')), 'no part of the stop text reaches a delta');
  });

  test('with logprobs too (its own generation loop), the stop text is left out', async () => {
    const completion = await complete(answer, { stop: 'local', logprobs: true });
    assert.equal(completion.choices[0]?.message.content, ANSWER.slice(0, ANSWER.indexOf('local')));
  });

  test('more than four stop texts, or a non-string one, is a 400 naming stop', async () => {
    await assert.rejects(complete(answer, { stop: ['a', 'b', 'c', 'd', 'e'] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'stop');
    await assert.rejects(complete(answer, { stop: 7 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'stop');
  });
});

describe('sampling', slow, () => {
  test('a seed makes a sampled answer reproducible, and another seed gives another answer', async () => {
    const sampled = { temperature: 1, max_tokens: 12 };
    const a = await text(soft, { ...sampled, seed: 7 });
    assert.equal(await text(soft, { ...sampled, seed: 7 }), a);
    assert.notEqual(a, ANSWER, 'sampling at temperature 1 strays from the greedy answer');
    assert.notEqual(await text(soft, { ...sampled, seed: 8 }), a);
  });

  test('top_k 1, a small top_p and a high min_p each keep only the likeliest token', async () => {
    const sampled = { temperature: 1, max_tokens: 12 };
    for (const seed of [1, 2]) {
      assert.notEqual(await text(soft, { ...sampled, seed }), ANSWER);
      assert.equal(await text(soft, { ...sampled, seed, top_k: 1 }), ANSWER, 'top_k');
      assert.equal(await text(soft, { ...sampled, seed, top_p: 0.01 }), ANSWER, 'top_p');
      assert.equal(await text(soft, { ...sampled, seed, min_p: 0.9 }), ANSWER, 'min_p');
    }
  });

  test('logit_bias -100 bans a token the model always emits; a large positive bias makes another one win', async () => {
    const banned = await text(answer, { logit_bias: { [String(FROM_TOKEN)]: -100 }, max_tokens: 8 });
    assert.ok(!banned.includes('from'), `"from" was banned: ${banned}`);
    assert.notEqual(banned, ANSWER);
    // On the soft model the successor's logit is 3: +10 on "model." makes it the greedy choice everywhere.
    const favoured = await text(soft, { logit_bias: { [String(FIRST_ANSWER_TOKEN + 4)]: 10 }, max_tokens: 3 });
    assert.equal(favoured, 'model. model. model.'.replace(/^ /, ''));
  });

  test('presence and frequency penalties stop a loop from repeating itself', async () => {
    assert.equal(await text(softLoop, { max_tokens: 6 }), LOOP);
    assert.notEqual(await text(softLoop, { max_tokens: 6, presence_penalty: 2 }), LOOP);
    assert.notEqual(await text(softLoop, { max_tokens: 6, frequency_penalty: 2 }), LOOP);
  });

  test('out-of-range values are a 400 naming the field', async () => {
    for (const [field, value] of [['top_p', 1.5], ['presence_penalty', 3], ['frequency_penalty', -2.5], ['top_k', -1], ['min_p', 2], ['top_logprobs', 21], ['n', 9], ['n', 0]] as const) {
      await assert.rejects(complete(answer, { [field]: value, ...(field === 'top_logprobs' ? { logprobs: true } : {}) }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === field, field);
    }
    await assert.rejects(complete(answer, { logit_bias: { '12': 101 } }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'logit_bias.12');
    await assert.rejects(complete(answer, { logit_bias: { hello: 1 } }), (e: unknown) => e instanceof OpenAI.BadRequestError && String(e.param).startsWith('logit_bias'));
    await assert.rejects(complete(answer, { logit_bias: { '999999': 1 } }), (e: unknown) => e instanceof OpenAI.BadRequestError && /vocabulary/.test(e.message));
    await assert.rejects(complete(answer, { top_logprobs: 2 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'top_logprobs');
  });
});

describe('temperature', slow, () => {
  test('when the request sends none, the app’s generation temperature applies', async () => {
    const server = await serveLocal(join(dir, 'soft.gguf'), 0);
    assert.equal(await text(server, { seed: 1, max_tokens: 12 }), ANSWER, 'setting 0: greedy');
    const saved = await postApi(server, 'settings:set', { patch: { generation: { temperature: 1.5 } } });
    assert.equal(saved.status, 200);
    assert.notEqual(await text(server, { seed: 1, max_tokens: 12 }), ANSWER, 'setting 1.5: sampled');
    assert.equal(await text(server, { seed: 1, max_tokens: 12, temperature: 0 }), ANSWER, 'the request’s own temperature wins');
  });
});

describe('response_format', slow, () => {
  const Answer = z.object({ word: z.string(), count: z.number().int(), ok: z.boolean() });

  test('parse() with a zod schema returns the parsed object', async () => {
    const completion = await sdk(json).chat.completions.parse({ model: 'auto', messages: hello, max_tokens: 60, response_format: zodResponseFormat(Answer, 'answer') });
    assert.deepEqual(completion.choices[0]?.message.parsed, { word: 'hi', count: 3, ok: true });
  });

  test('the schema constrains what the model says: other keys than its own answer still conform', async () => {
    const Flag = z.object({ ok: z.boolean() });
    const completion = await sdk(json).chat.completions.parse({ model: 'auto', messages: hello, max_tokens: 60, response_format: zodResponseFormat(Flag, 'flag') });
    const parsed = completion.choices[0]?.message.parsed;
    assert.deepEqual(Object.keys(parsed ?? {}), ['ok'], completion.choices[0]?.message.content ?? '');
    assert.equal(typeof parsed?.ok, 'boolean');
    // With logprobs the answer comes from another generation loop, under the same grammar.
    const withLogprobs = await complete(json, { max_tokens: 60, response_format: zodResponseFormat(Flag, 'flag'), logprobs: true });
    Flag.parse(JSON.parse(withLogprobs.choices[0]?.message.content ?? ''));
  });

  test('json_object decodes JSON: a model that never says JSON starts an object', async () => {
    assert.equal(await text(answer, { max_tokens: 20 }), ANSWER);
    const constrained = await complete(answer, { response_format: { type: 'json_object' }, max_tokens: 20 });
    assert.match(constrained.choices[0]?.message.content ?? '', /^\{/);
    const parsed = JSON.parse(await text(json, { response_format: { type: 'json_object' }, max_tokens: 60 }));
    assert.deepEqual(parsed, { word: 'hi', count: 3, ok: true });
  });

  test('an answer cut short by max_tokens finishes with length, which parse() refuses', async () => {
    const cut = await complete(json, { response_format: zodResponseFormat(Answer, 'answer'), max_tokens: 3 });
    assert.equal(cut.choices[0]?.finish_reason, 'length');
    await assert.rejects(
      sdk(json).chat.completions.parse({ model: 'auto', messages: hello, max_tokens: 3, response_format: zodResponseFormat(Answer, 'answer') }),
      (e: unknown) => e instanceof LengthFinishReasonError,
    );
  });

  test('a schema the local model cannot enforce, or a missing one, is a clear 400', async () => {
    for (const schema of [{ type: 'no-such-type' }, { type: 'string', pattern: '^a+$' }, { allOf: [{ type: 'string' }] }]) {
      await assert.rejects(
        complete(answer, { response_format: { type: 'json_schema', json_schema: { name: 'bad', schema } } }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && /response_format\.json_schema\.schema/.test(e.message),
        JSON.stringify(schema),
      );
    }
    await assert.rejects(
      complete(answer, { response_format: { type: 'json_schema', json_schema: { name: 'bad' } } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'response_format.json_schema.schema',
    );
    await assert.rejects(complete(answer, { response_format: { type: 'yaml' } }), (e: unknown) => e instanceof OpenAI.BadRequestError && String(e.param).startsWith('response_format'));
  });
});

describe('logprobs', slow, () => {
  test('each token comes with its log probability and the most likely alternatives, sorted', async () => {
    const completion = await complete(soft, { logprobs: true, top_logprobs: 3, max_tokens: 5 });
    const choice = completion.choices[0]!;
    assert.equal(choice.message.content, ANSWER);
    const content = choice.logprobs?.content ?? [];
    assert.equal(content.map((t) => t.token).join(''), ANSWER, 'the tokens spell the answer');
    for (const token of content) {
      assert.ok(token.logprob <= 0 && token.logprob > -10, `logprob ${token.logprob}`);
      assert.deepEqual(token.bytes, [...Buffer.from(token.token)]);
      assert.equal(token.top_logprobs.length, 3);
      const values = token.top_logprobs.map((t) => t.logprob);
      assert.deepEqual(values, [...values].sort((a, b) => b - a), 'most likely first');
      assert.equal(token.top_logprobs[0]?.token, token.token, 'greedy picks the most likely');
      assert.ok(Math.abs(token.top_logprobs[0]!.logprob - token.logprob) < 1e-6);
    }
    // The soft model's successor has logit 3 against 0 for the other ~360 tokens: p ≈ e³/(e³ + 360) ≈ 0.053.
    assert.ok(content[1]!.logprob < -1, 'the probabilities are the model’s, not a certainty');
  });

  test('without top_logprobs, each token still has its logprob; without logprobs, none', async () => {
    const completion = await complete(answer, { logprobs: true });
    assert.ok((completion.choices[0]?.logprobs?.content?.length ?? 0) > 0);
    assert.ok(completion.choices[0]?.logprobs?.content?.every((t) => t.top_logprobs.length === 0));
    assert.equal((await complete(answer)).choices[0]?.logprobs, null);
  });

  test('streaming: each chunk carries the log probabilities of its tokens', async () => {
    const chunks = await stream(soft, { logprobs: true, top_logprobs: 2, max_tokens: 5 });
    const withText = chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '');
    assert.ok(withText.length > 0);
    for (const chunk of withText) {
      const tokens = chunk.choices[0]?.logprobs?.content ?? [];
      assert.equal(tokens.map((t) => t.token).join(''), chunk.choices[0]?.delta.content);
    }
  });
});

describe('n', slow, () => {
  test('n = 3 gives three choices, each with its index; usage counts the prompt once', async () => {
    const one = await complete(soft, { temperature: 1, seed: 3, max_tokens: 6 });
    const three = await complete(soft, { temperature: 1, seed: 3, max_tokens: 6, n: 3 });
    assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(three.choices[0]?.message.content, one.choices[0]?.message.content, 'the first choice is the single answer with that seed');
    assert.ok(new Set(three.choices.map((c) => c.message.content)).size > 1, 'later choices use other seeds');
    assert.equal(three.usage?.prompt_tokens, one.usage?.prompt_tokens);
    assert.equal(three.usage?.completion_tokens, three.choices.length * 6);
    const unseeded = await complete(soft, { temperature: 1, max_tokens: 6, n: 3 });
    assert.equal(new Set(unseeded.choices.map((c) => c.message.content)).size, 3, 'without a seed, each choice is sampled anew');
  });

  test('streaming n = 2: chunks carry their choice’s index, and each choice finishes', async () => {
    const chunks = await stream(answer, { n: 2, stream_options: { include_usage: true } });
    const textOf = (index: number) => chunks.flatMap((c) => c.choices.filter((ch) => ch.index === index)).map((ch) => ch.delta.content ?? '').join('');
    assert.equal(textOf(0), ANSWER);
    assert.equal(textOf(1), ANSWER);
    const finishes = chunks.flatMap((c) => c.choices.filter((ch) => ch.finish_reason !== null).map((ch) => [ch.index, ch.finish_reason]));
    assert.deepEqual(finishes, [[0, 'stop'], [1, 'stop']]);
    const usage = chunks.at(-1)?.usage;
    assert.equal(usage?.completion_tokens, 2 * (await complete(answer)).usage!.completion_tokens);
  });
});

describe('forwarded to an endpoint', slow, () => {
  test('n and the sampling fields reach the endpoint unchanged, and its n choices come back as it sent them', async () => {
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' } }));
    const fields = {
      n: 3,
      stop: ['\n', 'END'],
      top_p: 0.3,
      top_k: 5,
      min_p: 0.05,
      presence_penalty: 1,
      frequency_penalty: -1,
      logit_bias: { '7': -100, '8': 3 },
      logprobs: true,
      top_logprobs: 4,
      response_format: { type: 'json_object' },
      temperature: 0.2,
      seed: 9,
    };
    const choices = [0, 1, 2].map((index) => ({ index, message: { role: 'assistant', content: `answer ${index}`, refusal: null }, logprobs: null, finish_reason: 'stop' }));
    const answerBody = { id: 'chatcmpl-n', object: 'chat.completion', created: 1, model: 'cloud-model', choices, usage: { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 } };
    h.cloud.reset();
    h.cloud.failNext({ kind: 'script', body: answerBody });
    const completion = await complete(server, fields);
    assert.deepEqual(completion, answerBody);
    assert.deepEqual(h.cloud.chatRequests()[0]?.body, { model: 'cloud-model', messages: hello, ...fields });
  });

  test('without temperature, the body reaches the endpoint without one: the app’s setting is for the local model only', async () => {
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' }, generation: { temperature: 1.3 } }));
    h.cloud.reset();
    await complete(server);
    assert.equal('temperature' in (h.cloud.chatRequests()[0]?.body as object), false);
  });
});

describe('finish_reason', slow, () => {
  test('an answer ended by a model switch finishes with length: cut short, not passed off as complete', async () => {
    const longLoop = writeBigramModel(join(dir, 'long-loop.gguf'), { words: ['tick', 'tock'], loop: true, contextLength: 4096, name: 'long-loop' });
    const server = await serveLocal(longLoop);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    const s = await sdk(server).chat.completions.create({ model: 'auto', messages: hello, stream: true });
    let switched = false;
    for await (const chunk of s) {
      chunks.push(chunk);
      if (!switched && chunk.choices[0]?.delta.content) {
        switched = true;
        assert.equal((await postApi(server, 'models:setActive', { path: join(dir, 'answer.gguf') })).status, 200);
      }
    }
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.ok(text.startsWith('tick'), text);
    assert.ok(text.split(' ').length < 3500, 'ended by the switch, long before the context was full');
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'length');
  });
});
