/**
 * `POST /v1/completions` (legacy) as an SDK user sees it: on the local model through LlamaCompletion, with
 * OpenAI's defaults and `text_completion` objects, streaming or not, stop sequences and max_tokens; what the
 * local model cannot do is a 400 naming the field; forwarded to an endpoint, the body arrives unchanged and
 * the answer comes back as it is, streaming or not.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { RunningServer } from '../../electron/server/http-server.js';
import { writeEmbeddingModel } from '../fixtures/embedding-model.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { readSse } from '../fixtures/http-client.js';
import { ANSWER, LOOP_WORDS, type FixtureModels } from '../fixtures/models.js';
import { sdk, type Harness, useHarness } from '../fixtures/server-harness.js';

let h: Harness;
let models: FixtureModels;

useHarness((made) => ({ h, models } = made));

async function post(server: RunningServer, body: Record<string, unknown>) {
  const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) return { response, json: (await response.json()) as any, data: [] as string[] };
  const data: string[] = [];
  for await (const message of readSse(response.body!)) data.push(message.data);
  return { response, json: null, data };
}

describe('legacy completions on the local model', { timeout: 120_000 }, () => {
  let server: RunningServer;
  before(async () => {
    const services = await h.makeServices({ local: { modelPath: models.answer }, routing: { strategy: 'local-only' } });
    server = await h.serve(services);
  });

  test('the SDK gets a text_completion continuing the prompt, with usage', async () => {
    const { data, response } = await sdk(server).completions.create({ model: 'answer', prompt: 'Once upon a time', max_tokens: 50 }).withResponse();
    assert.match(data.id, /^cmpl-/);
    assert.equal(data.object, 'text_completion');
    assert.equal(data.model, 'answer-model');
    assert.equal(data.choices.length, 1);
    assert.equal(data.choices[0]!.text, ANSWER);
    assert.equal(data.choices[0]!.index, 0);
    assert.equal(data.choices[0]!.logprobs, null);
    assert.equal(data.choices[0]!.finish_reason, 'stop');
    assert.ok(data.usage!.prompt_tokens > 0);
    assert.equal(data.usage!.completion_tokens, ANSWER.split(' ').length, 'one token per word, and no end-of-sequence token');
    assert.equal(data.usage!.total_tokens, data.usage!.prompt_tokens + data.usage!.completion_tokens);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'local');
    assert.equal(h.cloud.requests.length, 0);
  });

  test('max_tokens ends the text with finish_reason length; stop ends it before the stop text', async () => {
    const client = sdk(server);
    const short = await client.completions.create({ model: 'answer', prompt: 'Once', max_tokens: 3 });
    assert.equal(short.choices[0]!.text, ANSWER.split(' ').slice(0, 3).join(' '));
    assert.equal(short.choices[0]!.finish_reason, 'length');
    assert.equal(short.usage!.completion_tokens, 3);
    const stopped = await client.completions.create({ model: 'answer', prompt: 'Once', max_tokens: 50, stop: [' local', 'never'] });
    assert.equal(stopped.choices[0]!.text, 'Hello from the');
    assert.equal(stopped.choices[0]!.finish_reason, 'stop');
    const single = await client.completions.create({ model: 'answer', prompt: 'Once', max_tokens: 50, stop: 'the' });
    assert.equal(single.choices[0]!.text, 'Hello from ', 'the text up to the stop, its space included, as OpenAI cuts it');
  });

  test('max_tokens defaults to 16, as OpenAI’s does', async () => {
    const services = await h.makeServices({ local: { modelPath: models.loop }, routing: { strategy: 'local-only' } });
    const loopServer = await h.serve(services);
    const result = await sdk(loopServer).completions.create({ model: 'loop', prompt: 'Go' });
    assert.equal(result.usage!.completion_tokens, 16);
    assert.equal(result.choices[0]!.finish_reason, 'length');
    assert.match(result.choices[0]!.text, /^tick tock tick/);
  });

  test('streamed: text_completion chunks carry the text, the last its finish_reason, then [DONE]; usage when asked', async () => {
    const stream = await sdk(server).completions.create({ model: 'answer', prompt: 'Once', max_tokens: 50, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 2, 'the text arrives in pieces');
    assert.ok(chunks.every((c) => c.object === 'text_completion' && c.choices[0]?.index === 0));
    assert.equal(chunks.map((c) => c.choices[0]!.text).join(''), ANSWER);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null));

    const raw = await post(server, { model: 'answer', prompt: 'Once', max_tokens: 3, stream: true, stream_options: { include_usage: true } });
    assert.equal(raw.data.at(-1), '[DONE]');
    const parsed = raw.data.slice(0, -1).map((d) => JSON.parse(d));
    const usage = parsed.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, 3);
    assert.equal(parsed.at(-2).choices[0].finish_reason, 'length');
  });

  test('echo puts the prompt before the text; several prompts give one choice each, in order', async () => {
    const client = sdk(server);
    const echoed = await client.completions.create({ model: 'answer', prompt: 'Once upon ', max_tokens: 50, echo: true });
    assert.equal(echoed.choices[0]!.text, `Once upon ${ANSWER}`);
    const several = await client.completions.create({ model: 'answer', prompt: ['One', 'Two', 'Three'], max_tokens: 2, echo: true });
    assert.deepEqual(several.choices.map((c) => [c.index, c.text, c.finish_reason]), [
      [0, 'OneHello from', 'length'],
      [1, 'TwoHello from', 'length'],
      [2, 'ThreeHello from', 'length'],
    ]);
    assert.equal(several.usage!.completion_tokens, 6);
    const streamed = await post(server, { model: 'answer', prompt: ['One', 'Two'], max_tokens: 2, stream: true });
    const chunks = streamed.data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
    for (const index of [0, 1]) {
      const mine = chunks.filter((c) => c.choices[0].index === index);
      assert.equal(mine.map((c) => c.choices[0].text).join(''), 'Hello from');
      assert.equal(mine.at(-1).choices[0].finish_reason, 'length');
    }
  });

  test('what the local model cannot do, and bad input, get a 400 naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string | null, RegExp]> = [
      [{ model: 'answer', prompt: 'x', suffix: ' the end' }, null, /^suffix: the local model answer-model has no fill-in-the-middle tokens/],
      [{ model: 'answer', prompt: 'x', logprobs: 2 }, null, /^logprobs: /],
      [{ model: 'answer', prompt: 'x', n: 2 }, null, /^n: /],
      [{ model: 'answer' }, 'prompt', /string or an array of strings/],
      [{ model: 'answer', prompt: [1, 2, 3] }, 'prompt', /token arrays/],
      [{ model: 'answer', prompt: [[1, 2, 3]] }, 'prompt', /token arrays/],
      [{ model: 'answer', prompt: [] }, 'prompt', /at least one/],
      [{ model: 'answer', prompt: 'x', max_tokens: 0 }, 'max_tokens', /./],
      [{ model: 'answer', prompt: 'x', temperature: 3 }, 'temperature', /./],
      [{ model: 'answer', prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /up to 4/],
      [{ model: 'answer', prompt: 'x', max_tokens: 100_000 }, null, /more than the local model's context/],
    ];
    for (const [body, param, message] of cases) {
      const { response, json } = await post(server, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      if (param) assert.equal(json.error.param, param, JSON.stringify(json));
      assert.match(json.error.message, message, JSON.stringify(json));
    }
    const unknown = await post(server, { model: 'davinci-002', prompt: 'x' });
    assert.equal(unknown.response.status, 404);
    assert.equal(unknown.json.error.code, 'model_not_found');
    await assert.rejects(sdk(server).completions.create({ model: 'answer', prompt: 'x', suffix: 'y' }), (error: unknown) => error instanceof OpenAI.BadRequestError);
  });
});

/** Every field a client may send, unknown ones included. */
const RICH_BODY = {
  model: 'cloud-model',
  prompt: ['Say hi', 'Say bye'],
  max_tokens: 7,
  temperature: 0.3,
  top_p: 0.9,
  stop: ['\n'],
  seed: 5,
  echo: true,
  suffix: ' done.',
  n: 2,
  best_of: 3,
  logprobs: 2,
  presence_penalty: 0.5,
  frequency_penalty: 0.25,
  logit_bias: { '50256': -100 },
  user: 'user-42',
  some_vendor_extension: { keep: ['me', 1, true, null] },
};

const RICH_ANSWER = {
  id: 'cmpl-remote-1',
  object: 'text_completion',
  created: 1_700_000_000,
  model: 'cloud-model-2025',
  system_fingerprint: 'fp_1',
  choices: [
    { text: 'Say hi: hi', index: 0, logprobs: { tokens: [' hi'], token_logprobs: [-0.1], top_logprobs: [{ ' hi': -0.1 }], text_offset: [6] }, finish_reason: 'stop' },
    { text: 'Say bye: bye', index: 1, logprobs: null, finish_reason: 'length' },
  ],
  usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 },
  vendor_extra: { kept: true },
};

const CHUNKS = [
  { id: 'cmpl-r', object: 'text_completion', created: 1, model: 'cloud-model', choices: [{ text: 'Hi', index: 0, logprobs: { tokens: ['Hi'], token_logprobs: [-0.2] }, finish_reason: null }] },
  { id: 'cmpl-r', object: 'text_completion', created: 1, model: 'cloud-model', choices: [{ text: ' there', index: 1, logprobs: null, finish_reason: null }] },
  { id: 'cmpl-r', object: 'text_completion', created: 1, model: 'cloud-model', choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }] },
  { id: 'cmpl-r', object: 'text_completion', created: 1, model: 'cloud-model', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
];

describe('legacy completions forwarded to an endpoint', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await h.serve(await h.makeServices({ local: { modelPath: models.answer } }));
  });

  test('every field the client sent arrives unchanged but for the model; the whole answer comes back as it is', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const { response, json } = await post(server, RICH_BODY);
    assert.equal(response.status, 200, JSON.stringify(json));
    assert.deepEqual(json, RICH_ANSWER);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    const [sent] = h.cloud.requests;
    assert.equal(sent?.path, '/v1/completions');
    assert.deepEqual(sent?.body, RICH_BODY);
  });

  test('streamed: the endpoint’s chunks pass through as they are, then [DONE]', async () => {
    h.cloud.failNext({ kind: 'script', chunks: CHUNKS });
    const body = { ...RICH_BODY, stream: true, stream_options: { include_usage: true } };
    const { response, data } = await post(server, body);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    assert.deepEqual(data.slice(0, -1).map((d) => JSON.parse(d)), CHUNKS);
    assert.equal(data.at(-1), '[DONE]');
    assert.deepEqual(h.cloud.requests[0]?.body, body);
  });

  test('through the SDK, with an endpoint’s error reaching the client', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const result = await sdk(server).completions.create({ model: 'cloud-model', prompt: 'Say hi', suffix: ' done.' });
    assert.equal(result.choices[0]!.text, 'Say hi: hi');
    assert.equal(h.cloud.requests[0]?.body.suffix, ' done.', 'what the local model refuses still reaches an endpoint');
    h.cloud.failNext({ status: 400, body: { error: { message: 'best_of is not supported with stream.', type: 'invalid_request_error', param: 'best_of', code: null } } });
    await assert.rejects(sdk(server).completions.create({ model: 'cloud-model', prompt: 'Say hi' }), (error: unknown) => error instanceof OpenAI.BadRequestError && /best_of/.test(error.message));
  });
});

describe('legacy completions with a suffix', { timeout: 120_000 }, () => {
  test('a model with fill-in-the-middle tokens fills in between the prompt and the suffix', async () => {
    const fim = writeBigramModel(join(models.dir, 'fim.gguf'), { fim: true, name: 'fim-model' });
    const server = await h.serve(await h.makeServices({ local: { modelPath: fim }, routing: { strategy: 'local-only' } }));
    const client = sdk(server);
    const plain = await client.completions.create({ model: 'fim', prompt: 'def f(', max_tokens: 50 });
    const filled = await client.completions.create({ model: 'fim', prompt: 'def f(', suffix: 'xyz', max_tokens: 50 });
    assert.equal(filled.choices[0]!.text, ANSWER, 'the middle, without the suffix');
    assert.equal(filled.choices[0]!.finish_reason, 'stop');
    // The suffix and the three fill-in-the-middle tokens reached the model.
    assert.equal(filled.usage!.prompt_tokens, plain.usage!.prompt_tokens + 'xyz'.length + 3);
  });
});

describe('legacy completions share the local model’s one queue', { timeout: 120_000 }, () => {
  test('with one sequence busy with a chat, a completion waits its turn, then answers; an embedding does not wait', async () => {
    const embedder = writeEmbeddingModel(join(models.dir, 'queue-embedder.gguf'));
    // A long context, so the looping chat below is still writing when the other requests arrive.
    const longLoop = writeBigramModel(join(models.dir, 'long-loop.gguf'), { words: LOOP_WORDS, loop: true, contextLength: 8192, name: 'long-loop' });
    const services = await h.makeServices({ local: { modelPath: longLoop, parallel: 1, embeddingModelPath: embedder }, routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    const client = sdk(server);
    // A chat that loops until it is stopped holds the only sequence.
    const chatStop = new AbortController();
    const chat = await client.chat.completions.create({ model: 'long-loop', messages: [{ role: 'user', content: 'Go' }], max_tokens: 8000, stream: true }, { signal: chatStop.signal });
    const reading = (async () => {
      try {
        for await (const _ of chat) void _;
      } catch {
        // stopped on purpose
      }
    })();
    const completion = client.completions.create({ model: 'long-loop', prompt: 'Go', max_tokens: 4 });
    let queued = 0;
    for (let i = 0; i < 200 && queued === 0; i++) {
      const status = await services.call('engine:status', {});
      if (status.ok) queued = status.value.queueLength;
      if (queued === 0) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(queued, 1, 'the completion waits in the same queue as chats');
    // Embeddings run on a context of their own: no chat's place is needed.
    const embedded = await client.embeddings.create({ model: 'auto', input: 'while the chat runs' });
    assert.equal(embedded.data[0]!.embedding.length, 96);
    const still = await services.call('engine:status', {});
    assert.ok(still.ok && still.value.queueLength === 1, 'the embedding was made while the chat still held the sequence');
    chatStop.abort();
    await reading;
    const answer = await completion;
    assert.equal(answer.choices[0]!.finish_reason, 'length');
    assert.equal(answer.usage!.completion_tokens, 4);
  });
});
