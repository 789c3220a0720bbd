/**
 * `POST /v1/embeddings` as an SDK user sees it: OpenAI's shape on the local model (a chosen embedding
 * model or the loaded chat model), floats and base64 alike, order kept, clear 400s; forwarded to an endpoint
 * with every field unchanged, its answer returned as it is, recorded in the egress ledger and kept under the
 * privacy ceiling.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { RunningServer } from '../../electron/server/http-server.js';
import type { Services } from '../../electron/services/app-services.js';
import { writeEmbeddingModel } from '../fixtures/embedding-model.js';
import { endpoint } from '../fixtures/endpoints.js';
import type { FixtureModels } from '../fixtures/models.js';
import { sdk, type Harness, useHarness } from '../fixtures/server-harness.js';
import { call } from '../fixtures/service-calls.js';

let h: Harness;
let models: FixtureModels;
let embedder: string;

useHarness((made) => {
  ({ h, models } = made);
  embedder = writeEmbeddingModel(join(models.dir, 'embedder.gguf'), { name: 'test-embedder' });
});

async function post(server: RunningServer, body: unknown) {
  const response = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { response, json: (await response.json()) as any };
}

function decode(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
}

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

describe('embeddings on the local embedding model', { timeout: 120_000 }, () => {
  let services: Services;
  let server: RunningServer;
  before(async () => {
    services = await h.makeServices({ local: { modelPath: models.answer, embeddingModelPath: embedder } });
    server = await h.serve(services);
  });

  test('the SDK gets OpenAI’s shape with float vectors as long as the model’s embedding length, each of length 1', async () => {
    const client = sdk(server);
    // No encoding_format: the SDK asks for base64 and decodes it.
    const { data, response } = await client.embeddings.create({ model: 'embedder', input: 'Hello there' }).withResponse();
    assert.equal(data.object, 'list');
    assert.equal(data.model, 'test-embedder', 'the model that made them, as its file names it');
    assert.equal(data.data.length, 1);
    const [first] = data.data;
    assert.equal(first!.object, 'embedding');
    assert.equal(first!.index, 0);
    assert.ok(Array.isArray(first!.embedding) && first!.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    assert.equal(first!.embedding.length, 96, 'the embedding model’s length (the chat model’s is 64)');
    assert.ok(Math.abs(norm(first!.embedding) - 1) < 1e-5);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(data.usage.total_tokens, data.usage.prompt_tokens);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'local');
    assert.equal(response.headers.get('x-spillway-tier'), 'sovereign');
    assert.equal(h.cloud.requests.length, 0, 'nothing left this computer');
  });

  test('identical inputs give identical vectors, different inputs differ, and a batch keeps its order', async () => {
    const client = sdk(server);
    const one = async (input: string) => (await client.embeddings.create({ model: 'embedder', input, encoding_format: 'float' })).data[0]!.embedding;
    const hello = await one('Hello there');
    assert.deepEqual(await one('Hello there'), hello);
    const bye = await one('Goodbye now');
    assert.notDeepEqual(bye, hello);
    const batch = await client.embeddings.create({ model: 'auto', input: ['Goodbye now', 'Hello there', 'Goodbye now'], encoding_format: 'float' });
    assert.deepEqual(batch.data.map((d) => d.index), [0, 1, 2]);
    assert.deepEqual(batch.data.map((d) => d.embedding), [bye, hello, bye]);
  });

  test('float and base64 decode to the same numbers', async () => {
    const floats = await post(server, { model: 'embedder', input: ['Hello there', 'Goodbye now'], encoding_format: 'float' });
    const base64 = await post(server, { model: 'embedder', input: ['Hello there', 'Goodbye now'], encoding_format: 'base64' });
    assert.equal(floats.response.status, 200);
    assert.equal(base64.response.status, 200);
    assert.equal(typeof base64.json.data[0].embedding, 'string');
    assert.deepEqual(base64.json.data.map((d: any) => decode(d.embedding)), floats.json.data.map((d: any) => d.embedding));
    const viaSdk = await sdk(server).embeddings.create({ model: 'embedder', input: ['Hello there', 'Goodbye now'] });
    assert.deepEqual(viaSdk.data.map((d) => d.embedding), floats.json.data.map((d: any) => d.embedding));
  });

  test('/v1/models lists the embedding model; a chat naming it is told to use /v1/embeddings', async () => {
    const client = sdk(server);
    const ids = (await client.models.list()).data.map((m) => m.id);
    assert.ok(ids.includes('embedder') && ids.includes('answer'), ids.join(', '));
    assert.equal((await client.models.retrieve('embedder')).owned_by, 'local');
    await assert.rejects(client.chat.completions.create({ model: 'embedder', messages: [{ role: 'user', content: 'Hi' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.match(error.message, /embeddings only/);
      return true;
    });
  });

  test('bad input gets a 400 naming the field', async () => {
    const cases: Array<[unknown, string, RegExp?]> = [
      [{ model: 'embedder' }, 'input'],
      [{ model: 'embedder', input: [] }, 'input', /at least one/],
      [{ model: 'embedder', input: '' }, 'input', /empty/],
      [{ model: 'embedder', input: ['ok', ''] }, 'input[1]', /empty/],
      [{ model: 'embedder', input: [1, 2, 3] }, 'input', /token arrays/],
      [{ model: 'embedder', input: [[1, 2, 3]] }, 'input', /token arrays/],
      [{ model: 'embedder', input: 'x', encoding_format: 'int8' }, 'encoding_format'],
      [{ model: 'embedder', input: 'x', dimensions: 0 }, 'dimensions'],
      [{ model: 'embedder', input: 'x', dimensions: 64 }, 'dimensions', /96 dimensions/],
    ];
    for (const [body, param, message] of cases) {
      const { response, json } = await post(server, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(json.error.param, param, JSON.stringify(json));
      if (message) assert.match(json.error.message, message);
    }
    const fits = await post(server, { model: 'embedder', input: 'x', dimensions: 96 });
    assert.equal(fits.response.status, 200, 'the model’s own length is accepted');
    const unknown = await post(server, { model: 'text-embedding-3-small', input: 'x' });
    assert.equal(unknown.response.status, 404);
    assert.equal(unknown.json.error.code, 'model_not_found');
  });
});

describe('embeddings on the loaded chat model, Local only', { timeout: 120_000 }, () => {
  test('vectors as long as the chat model’s; an input longer than its context is a 400, never cut', async () => {
    const services = await h.makeServices({ local: { modelPath: models.answer }, routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    const client = sdk(server);
    const result = await client.embeddings.create({ model: 'answer', input: ['Hello there', 'Hello there'] });
    assert.equal(result.data[0]!.embedding.length, 64);
    assert.deepEqual(result.data[0]!.embedding, result.data[1]!.embedding);
    const { response, json } = await post(server, { input: ['short', 'word '.repeat(400)] });
    assert.equal(response.status, 400);
    assert.equal(json.error.code, 'context_length_exceeded');
    assert.match(json.error.message, /Input 1 has \d+ tokens/);
    assert.equal(h.cloud.requests.length, 0);
  });

  test('an embedding model that cannot be loaded is named in the error; the setting is validated', async () => {
    const services = await h.makeServices({ local: { modelPath: models.answer, embeddingModelPath: models.missing }, routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    const { response, json } = await post(server, { input: 'Hello' });
    assert.ok(response.status >= 400, JSON.stringify(json));
    assert.match(json.error.message, /embedding model does-not-exist\.gguf cannot be used/);
    const chat = await sdk(server).chat.completions.create({ model: 'answer', messages: [{ role: 'user', content: 'Hi' }] });
    assert.ok(chat.choices[0]!.message.content, 'the chat model still answers');
    const bad = await services.call('settings:set', { patch: { local: { embeddingModelPath: '' } } });
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'INVALID_ARGUMENT');
    assert.match(bad.error.message, /embeddingModelPath/);
    const cleared = await call(services, 'settings:set', { patch: { local: { embeddingModelPath: null } } });
    assert.equal(cleared.local.embeddingModelPath, null);
  });

  test('with no local model, Local only refuses with a clear error and sends nothing', async () => {
    const services = await h.makeServices({ routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    await assert.rejects(sdk(server).embeddings.create({ model: 'auto', input: 'Hello' }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError && error.status !== undefined && error.status >= 400 && error.status < 500, String(error));
      assert.match(error.message, /can make embeddings, and local only allows none/);
      return true;
    });
    assert.equal(h.cloud.requests.length, 0);
  });
});

/** Every kind of field a client may send, unknown ones included. */
const RICH_BODY = {
  model: 'cloud-model',
  input: ['first text', 'second text'],
  encoding_format: 'base64',
  dimensions: 3,
  user: 'user-42',
  some_vendor_extension: { keep: ['me', 1, true, null] },
};

/** An endpoint's answer with fields of its own. */
const RICH_ANSWER = {
  object: 'list',
  data: [
    { object: 'embedding', index: 0, embedding: Buffer.from(new Float32Array([0.5, -0.25, 1]).buffer).toString('base64') },
    { object: 'embedding', index: 1, embedding: Buffer.from(new Float32Array([0, 0.125, -1]).buffer).toString('base64') },
  ],
  model: 'cloud-embedder-2025',
  usage: { prompt_tokens: 4, total_tokens: 4 },
  vendor_extra: { kept: true },
};

describe('embeddings forwarded to an endpoint', { timeout: 60_000 }, () => {
  let services: Services;
  let server: RunningServer;
  /** The fake cloud runs on 127.0.0.1; declared standard, it is what a cloud is to the ledger and the ceiling. */
  const cloud = () => [endpoint(h.cloud.baseURL, 'cloud-model', { tier: 'standard' })];
  before(async () => {
    services = await h.makeServices({ local: { modelPath: models.answer, embeddingModelPath: embedder }, endpoints: cloud() });
    server = await h.serve(services);
  });

  test('every field the client sent arrives unchanged but for the model; the answer comes back as it is, and the ledger records it', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const { response, json } = await post(server, RICH_BODY);
    assert.equal(response.status, 200);
    assert.deepEqual(json, RICH_ANSWER);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    assert.equal(response.headers.get('x-spillway-driver'), 'remote');
    const [sent] = h.cloud.requests;
    assert.equal(sent?.path, '/v1/embeddings');
    assert.deepEqual(sent?.body, { ...RICH_BODY, model: 'cloud-model' });
    const report = await call(services, 'egress:list', {});
    const entry = report.entries.find((e) => e.endpointId === 'cloud');
    assert.ok(entry, 'the ledger records the embeddings that left');
    assert.equal(entry.outcome, 'success');
    assert.equal(entry.tier, 'standard');
    assert.equal(entry.promptTokens, 4);
    assert.equal(entry.bytesSent, Buffer.byteLength(JSON.stringify(sent!.body)), 'the exact size of the body sent');
  });

  test('the SDK’s default (base64, decoded) works through an endpoint too', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const result = await sdk(server).embeddings.create({ model: 'cloud-model', input: ['first text', 'second text'] });
    assert.equal(h.cloud.requests[0]?.body.encoding_format, 'base64', 'the SDK’s own field reaches the endpoint');
    assert.deepEqual(result.data.map((d) => d.embedding), [[0.5, -0.25, 1], [0, 0.125, -1]]);
  });

  test('an endpoint’s error reaches the client with its status', async () => {
    h.cloud.failNext({ status: 400, body: { error: { message: 'This model does not support dimensions.', type: 'invalid_request_error', param: 'dimensions', code: null } } });
    const { response, json } = await post(server, RICH_BODY);
    assert.equal(response.status, 400);
    assert.match(json.error.message, /does not support dimensions/);
  });

  test('the privacy ceiling keeps embeddings here: nothing is sent', async () => {
    const local = await h.makeServices({ local: { modelPath: models.answer, embeddingModelPath: embedder }, endpoints: cloud(), routing: { ceiling: 'sovereign' } });
    const localServer = await h.serve(local);
    const { response, json } = await post(localServer, RICH_BODY);
    assert.equal(response.status, 403, JSON.stringify(json));
    assert.equal(json.error.code, 'privacy_blocked');
    assert.equal(h.cloud.requests.length, 0);
    const auto = await post(localServer, { input: 'Hello there' });
    assert.equal(auto.response.status, 200, 'the local model answers instead');
    assert.equal(auto.response.headers.get('x-spillway-endpoint'), 'local');
  });
});
