/**
 * The OpenAI-compatible API as an SDK user sees it: `model` picks an entry (or `auto` lets the route
 * choose; an unknown one is a 404), a forwarded request reaches the endpoint with every field the client
 * sent and everything the endpoint returns reaches the client, streaming or not; tools, the developer role,
 * CORS for allowed origins, and the app API's HTTP statuses.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { RunningServer } from '../../electron/server/http-server.js';
import type { Services } from '../../electron/services/app-services.js';
import { endpoint } from '../fixtures/endpoints.js';
import { readSse } from '../fixtures/http-client.js';
import { ANSWER, type FixtureModels } from '../fixtures/models.js';
import { CLOUD_REPLY, hello, postApi, sdk, type Harness, useHarness } from '../fixtures/server-harness.js';

const slow = { timeout: 60_000 };
let h: Harness;
let models: FixtureModels;

useHarness((made) => ({ h, models } = made));

/** Every kind of field a client may send, unknown ones included. */
const RICH_BODY = {
  model: 'cloud-model',
  messages: [
    { role: 'developer', content: 'Answer in JSON.' },
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
  ],
  tools: [{ type: 'function', function: { name: 'weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  tool_choice: 'auto',
  parallel_tool_calls: false,
  response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { text: { type: 'string' } } } } },
  stop: ['\n\n', 'END'],
  top_p: 0.9,
  presence_penalty: 0.5,
  frequency_penalty: 0.25,
  logit_bias: { '50256': -100 },
  logprobs: true,
  top_logprobs: 2,
  user: 'user-42',
  metadata: { trace: 'abc' },
  reasoning_effort: 'low',
  some_vendor_extension: { keep: ['me', 1, true, null] },
};

/** A non-streamed answer with everything an endpoint may return. */
const RICH_ANSWER = {
  id: 'chatcmpl-remote-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'cloud-model-2025-01-01',
  system_fingerprint: 'fp_123',
  service_tier: 'default',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        reasoning_content: 'The user wants the weather.',
        tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Lyon"}' } }],
      },
      logprobs: { content: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [{ token: 'x', logprob: -0.1, bytes: [120] }] }], refusal: null },
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52, prompt_tokens_details: { cached_tokens: 32 }, completion_tokens_details: { reasoning_tokens: 7 } },
  vendor_extra: { kept: true },
};

/** A streamed answer that calls a tool, in deltas, with a usage chunk. */
const TOOL_CHUNKS = [
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta: { role: 'assistant', content: null }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_3', type: 'function', function: { name: 'weather', arguments: '' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Nice"}' } }] }, finish_reason: null }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }] },
  { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
];

describe('the model field', { timeout: 60_000 }, () => {
  let services: Services;
  let server: RunningServer;
  before(async () => {
    services = await h.makeServices({ local: { modelPath: models.answer } });
    server = await h.serve(services);
  });

  test('/v1/models lists each usable entry’s model and auto; models.retrieve knows each, and 404s an unknown one', async () => {
    const client = sdk(server);
    assert.deepEqual((await client.models.list()).data.map((m) => [m.id, m.owned_by]), [
      ['answer', 'local'],
      ['cloud-model', new URL(h.cloud.baseURL).host],
      ['auto', 'spillway'],
    ]);
    assert.deepEqual(await client.models.retrieve('cloud-model'), { id: 'cloud-model', object: 'model', created: 0, owned_by: new URL(h.cloud.baseURL).host });
    assert.equal((await client.models.retrieve('answer')).owned_by, 'local', 'the local model is listed by its file name');
    await assert.rejects(client.models.retrieve('gpt-5'), (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found');
  });

  test('a listed model sends the request to its entry; auto (or no model) lets the route choose; an unknown one is 404', slow, async () => {
    const client = sdk(server);
    const cloud = await client.chat.completions.create({ model: 'cloud-model', messages: hello }).withResponse();
    assert.equal(cloud.data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(cloud.response.headers.get('x-spillway-endpoint'), 'cloud', 'the working local model was passed by: the request named the cloud model');
    const local = await client.chat.completions.create({ model: 'answer', messages: hello }).withResponse();
    assert.equal(local.data.choices[0]?.message.content, ANSWER);
    assert.equal(local.data.model, 'answer-model', 'answers name the model as its file does');
    const byOwnName = await client.chat.completions.create({ model: 'answer-model', messages: hello }).withResponse();
    assert.equal(byOwnName.response.headers.get('x-spillway-endpoint'), 'local', 'the name inside the file selects it too');
    const auto = await client.chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(auto.response.headers.get('x-spillway-endpoint'), 'local');
    const before = h.cloud.chatRequests().length;
    await assert.rejects(client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: hello }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError, String(error));
      assert.equal(error.code, 'model_not_found');
      assert.match(error.message, /"gpt-3\.5-turbo" does not exist here/);
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: hello, stream: true }), OpenAI.NotFoundError);
    assert.equal(h.cloud.chatRequests().length, before, 'nothing was sent for an unknown model');
  });

  test('a model the strategy does not use is refused with the reason, never sent', async () => {
    const localOnly = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.answer } }));
    await assert.rejects(sdk(localOnly).chat.completions.create({ model: 'cloud-model', messages: hello }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError, String(error));
      assert.match(error.message, /served by Test cloud, which the current strategy does not use/);
      return true;
    });
    assert.equal(h.cloud.chatRequests().length, 0);
  });
});

describe('forwarded to an endpoint', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' }, endpoints: [endpoint(h.cloud.baseURL, 'configured-model')] }));
  });

  test('every field the client sent arrives unchanged but for the model; every field returned reaches the client', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...RICH_BODY, model: 'auto' }) });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), RICH_ANSWER, 'the endpoint’s answer, whole');
    assert.deepEqual(h.cloud.chatRequests()[0]?.body, { ...RICH_BODY, model: 'configured-model' }, 'the client’s body, whole, with the endpoint’s model');
  });

  test('through the SDK: a tool call comes back as a tool call, not as an empty answer', async () => {
    h.cloud.failNext({ kind: 'script', body: RICH_ANSWER });
    const completion = await sdk(server).chat.completions.create({ model: 'auto', messages: hello, tools: RICH_BODY.tools as never });
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(completion.choices[0]?.message.tool_calls, RICH_ANSWER.choices[0]!.message.tool_calls);
    assert.equal(completion.usage?.completion_tokens_details?.reasoning_tokens, 7);
  });

  test('streamed: the endpoint’s chunks pass through as they are, tool-call deltas and usage included', async () => {
    h.cloud.failNext({ kind: 'script', chunks: TOOL_CHUNKS });
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...RICH_BODY, model: 'auto', stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    const data: string[] = [];
    for await (const message of readSse(response.body!)) data.push(message.data);
    assert.deepEqual(data.slice(0, -1).map((d) => JSON.parse(d)), TOOL_CHUNKS);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(h.cloud.chatRequests()[0]?.body.stream, true);
    assert.deepEqual(h.cloud.chatRequests()[0]?.body.stream_options, { include_usage: true });

    h.cloud.failNext({ kind: 'script', chunks: TOOL_CHUNKS });
    const stream = sdk(server).chat.completions.stream({ model: 'auto', messages: hello, tools: RICH_BODY.tools as never });
    const final = await stream.finalChatCompletion();
    assert.deepEqual(final.choices[0]?.message.tool_calls?.[0]?.function, { name: 'weather', arguments: '{"city":"Nice"}' });
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
  });
});

describe('roles and tools', { timeout: 60_000 }, () => {
  test('the developer role is the system prompt on the local model', slow, async () => {
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.answer } }));
    const completion = await sdk(server).chat.completions.create({ model: 'auto', messages: [{ role: 'developer', content: 'Be brief.' }, ...hello] });
    assert.equal(completion.choices[0]?.message.content, ANSWER);
  });

  test('a request with tools goes past a local model without function calling; Local only refuses it by name', slow, async () => {
    const tools = RICH_BODY.tools as never;
    const firstLocal = await h.serve(await h.makeServices({ local: { modelPath: models.answer } }));
    const { response } = await sdk(firstLocal).chat.completions.create({ model: 'auto', messages: hello, tools }).withResponse();
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    const none = await sdk(firstLocal).chat.completions.create({ model: 'auto', messages: hello, tools, tool_choice: 'none' }).withResponse();
    assert.equal(none.response.headers.get('x-spillway-endpoint'), 'local', 'tool_choice none needs no tools');

    const localOnly = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.answer } }));
    await assert.rejects(sdk(localOnly).chat.completions.create({ model: 'auto', messages: hello, tools }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.code, 'unsupported');
      assert.match(error.message, /call tools/);
      return true;
    });
  });
});

describe('browsers and the app API', { timeout: 60_000 }, () => {
  test('--allow-origin lets exactly that origin call /v1, preflight included; others and /api stay closed', async () => {
    const services = await h.makeServices({ routing: { strategy: 'cloud-only' } });
    const server = await h.serve(services, { allowOrigins: ['https://app.example'] });
    const preflight = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization, content-type');

    const call = (origin: string, path = '/v1/chat/completions') =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'auto', messages: hello }) });
    const allowed = await call('https://app.example');
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(allowed.headers.get('access-control-expose-headers') ?? '', /x-spillway-endpoint/);
    const other = await call('https://evil.example');
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal((await call('https://app.example', '/api/settings:get')).status, 403, 'conversations and settings are never shared cross-origin');
  });

  test('/api answers with the status that matches the error, keeping the Result body', slow, async () => {
    const services = await h.makeServices({ local: { modelPath: models.loop }, routing: { strategy: 'local-only' } });
    const server = await h.serve(services);
    const invalid = await postApi(server, 'chat:send', { content: '' });
    assert.equal(invalid.status, 400);
    assert.ok(!invalid.result.ok && invalid.result.error.code === 'INVALID_ARGUMENT');
    const missing = await postApi(server, 'conversations:get', { id: 'nope' });
    assert.equal(missing.status, 404);
    assert.ok(!missing.result.ok && missing.result.error.code === 'NOT_FOUND');
    const unavailable = await postApi(server, 'models:pick', {});
    assert.equal(unavailable.status, 503);

    const sent = await postApi<{ conversationId: string; requestId: string }>(server, 'chat:send', { content: 'Go on forever' });
    assert.ok(sent.result.ok);
    const busy = await fetch(`${server.url}/api/chat:retry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ conversationId: sent.result.value.conversationId }) });
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('retry-after'), '1');
    const body = (await busy.json()) as { ok: boolean; error: { code: string } };
    assert.deepEqual([body.ok, body.error.code], [false, 'BUSY']);
    await postApi(server, 'chat:cancel', { requestId: sent.result.value.requestId });
  });
});
