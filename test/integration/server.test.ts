/**
 * Headless mode's APIs over real HTTP on 127.0.0.1: the official OpenAI SDK against /v1 with the real local
 * model (node-llama-cpp on a generated GGUF) and a fake cloud, routing and failures as clients see them,
 * and the app API with its event stream. Security, the static UI and the CLI are in server-security.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { Result } from '../../electron/contract/index.js';
import type { RunningServer } from '../../electron/server/http-server.js';
import type { Services } from '../../electron/services/app-services.js';
import { endpoint } from '../fixtures/endpoints.js';
import { rawRequest, readSse } from '../fixtures/http-client.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { CLOUD_REPLY, hello, postApi, sdk, startHarness, streamChat, type Harness } from '../fixtures/server-harness.js';

const slow = { timeout: 60_000 };
let models: FixtureModels;
let h: Harness;

before(async () => {
  models = makeFixtureModels();
  h = await startHarness();
});
beforeEach(() => {
  h.cloud.reset();
  h.cloud.setResponseModel(undefined);
});
after(async () => {
  await h.close();
  models.cleanup();
});

describe('local first with a working local model', () => {
  let services: Services;
  let server: RunningServer;
  /** Subscribers to every event (what an event stream adds and must remove when it closes). */
  let subscribers = 0;
  before(async () => {
    services = await h.makeServices({ local: { modelPath: models.answer } });
    // The server sees the same services, with their every-event subscriptions counted.
    const counted: Services = {
      ...services,
      onAny: (listener) => {
        subscribers++;
        const off = services.onAny(listener);
        return () => {
          subscribers--;
          off();
        };
      },
    };
    server = await h.serve(counted);
  });

  test('the OpenAI SDK gets a whole answer from the local model, with usage and its name', slow, async () => {
    const { data, response } = await sdk(server).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(data.choices[0]?.message.content, ANSWER);
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.equal(data.model, 'answer-model');
    assert.equal(response.headers.get('x-spillway-driver'), 'local');
    const usage = data.usage!;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(h.cloud.requests.length, 0);
  });

  test('the OpenAI SDK streams the answer, ending with a usage chunk', async () => {
    const stream = await sdk(server).chat.completions.create({ model: 'auto', messages: hello, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    const names = new Set<string>();
    const finishes: string[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
      names.add(chunk.model);
    }
    assert.equal(text, ANSWER);
    assert.deepEqual(finishes, ['stop']);
    assert.ok(usage && usage.completion_tokens > 0);
    assert.deepEqual([...names], ['answer-model']);
  });

  test('a raw stream says X-Spillway-Driver: local and ends with [DONE]', async () => {
    const { response, data, chunks, text } = await streamChat(server);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-spillway-driver'), 'local');
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    assert.equal(text, ANSWER);
    assert.equal(data.at(-1), '[DONE]');
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  });

  test('/v1/models lists the local model and the cloud model', async () => {
    const list = await sdk(server).models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['answer', 'cloud-model', 'auto']);
  });

  test('bad bodies get OpenAI-style 400s naming the field', async () => {
    const client = sdk(server);
    const cases: Array<[unknown, string]> = [
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: '' } }] }] }, 'messages[0].content[0].image_url.url'],
      [{ messages: hello, temperature: 5 }, 'temperature'],
      [{ messages: hello, max_tokens: 0 }, 'max_tokens'],
      [{ messages: hello, n: 9 }, 'n'], // above MAX_CHOICES (n itself is served),
    ];
    for (const [body, param] of cases) {
      await assert.rejects(client.chat.completions.create({ model: 'auto', ...(body as object) } as never), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.param, param);
        assert.equal(error.type, 'invalid_request_error');
        return true;
      });
    }
    const bad = await rawRequest({ port: server.port, path: '/v1/chat/completions', method: 'POST', headers: { host: `127.0.0.1:${server.port}` }, body: '{nope' });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error.message, /not valid JSON/);
    assert.equal(h.cloud.requests.length, 0);
  });

  test('unknown /v1 paths are 404 and wrong methods 405', async () => {
    assert.equal((await fetch(`${server.url}/v1/images/generations`, { method: 'POST' })).status, 404);
    assert.equal((await fetch(`${server.url}/v1/chat/completions`)).status, 405);
    assert.equal((await fetch(`${server.url}/v1/embeddings`)).status, 405);
    assert.equal((await fetch(`${server.url}/v1/completions`)).status, 405);
  });

  test('chat:send streams chat:delta events that join to the answer, then chat:done', slow, async () => {
    const listeners = (): number => subscribers;
    const before = listeners();
    const controller = new AbortController();
    const events = await fetch(`${server.url}/api/events`, { signal: controller.signal });
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(listeners(), before + 1);

    const sent = await postApi<{ requestId: string }>(server, 'chat:send', { content: 'Hello there' });
    assert.equal(sent.status, 200);
    assert.ok(sent.result.ok);
    const { requestId } = sent.result.value;
    let text = '';
    let done: any;
    for await (const message of readSse(events.body!)) {
      const payload = JSON.parse(message.data);
      if (payload.requestId !== requestId) continue;
      if (message.event === 'chat:delta') text += payload.text;
      if (message.event === 'chat:done') {
        done = payload;
        break;
      }
    }
    controller.abort();
    assert.equal(text, ANSWER);
    assert.equal(done.result.ok, true);
    assert.equal(done.result.value.content, ANSWER);
    assert.equal(done.result.value.meta.entryKind, 'local');
    // The stream's subscriber goes away with the connection, or every closed tab would leak one.
    for (let i = 0; i < 50 && listeners() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(listeners(), before);
  });

  test('settings:set with a bad value answers INVALID_ARGUMENT naming the field', async () => {
    const { status, result } = await postApi(server, 'settings:set', { patch: { endpoints: [endpoint('not a url', 'm')] } });
    assert.equal(status, 400);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.error.code, 'INVALID_ARGUMENT');
    assert.equal(result.error.field, 'patch.endpoints.0.baseURL');
  });

  test('unknown channels are 404, bad JSON 400, GET 405', async () => {
    for (const channel of ['nope', 'constructor', '__proto__', 'toString']) {
      const { status, result } = await postApi(server, channel, {});
      assert.equal(status, 404, channel);
      assert.ok(!result.ok && result.error.code === 'NOT_FOUND');
    }
    const bad = await fetch(`${server.url}/api/app:info`, { method: 'POST', body: '{' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as Result<unknown> & { ok: false }).error.code, 'INVALID_ARGUMENT');
    assert.equal((await fetch(`${server.url}/api/app:info`)).status, 405);
    const info = await postApi<{ mode: string }>(server, 'app:info', {});
    assert.ok(info.result.ok && info.result.value.mode === 'headless');
  });
});

describe('routing through the API', () => {
  test('cloud only answers from the remote and names the model the remote reported', slow, async () => {
    const services = await h.makeServices({ routing: { strategy: 'cloud-only' }, local: { modelPath: models.answer } });
    const server = await h.serve(services);
    h.cloud.setResponseModel('cloud-model-2025');
    const { data, response } = await sdk(server).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(data.model, 'cloud-model-2025');
    assert.equal(response.headers.get('x-spillway-driver'), 'remote');
    const streamed = await streamChat(server);
    assert.equal(streamed.response.headers.get('x-spillway-driver'), 'remote');
    assert.equal(streamed.text, CLOUD_REPLY);
    assert.equal(streamed.chunks.at(-1)?.model, 'cloud-model-2025');
    assert.equal(h.cloud.chatRequests()[0]?.headers.authorization, 'Bearer sk-cloud');
    const engine = await services.call('engine:status', {});
    assert.ok(engine.ok);
    assert.equal(engine.value.info, null, 'the local model was never loaded');
  });

  test('local only with a broken model fails and the cloud receives nothing', slow, async () => {
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.badMagic } }));
    await assert.rejects(sdk(server).chat.completions.create({ model: 'auto', messages: hello }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.equal(error.status, 502);
      assert.match(error.message, /Not a GGUF/);
      return true;
    });
    const streamed = await streamChat(server);
    assert.equal(streamed.response.status, 502, 'nothing streamed yet, so the failure still gets its status');
    assert.match(streamed.chunks[0]?.error?.message ?? '', /Not a GGUF/);
    assert.equal(h.cloud.requests.length, 0);
  });

  test('local first with a missing model spills over: the remote answers and the header says so', slow, async () => {
    const server = await h.serve(await h.makeServices({ local: { modelPath: models.missing } }));
    const streamed = await streamChat(server, { stream_options: { include_usage: true } });
    assert.equal(streamed.response.headers.get('x-spillway-driver'), 'remote');
    assert.equal(streamed.text, CLOUD_REPLY);
    assert.ok(streamed.chunks.at(-1)?.usage?.completion_tokens > 0);
    const { data, response } = await sdk(server).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(data.model, 'cloud-model');
    assert.equal(response.headers.get('x-spillway-driver'), 'remote');
    assert.equal(response.headers.get('x-spillway-endpoint'), 'cloud');
    assert.equal(response.headers.get('x-spillway-tier'), 'sovereign', 'the test cloud is on loopback');
    assert.equal(h.cloud.chatRequests().length, 2);
  });

  test('an image goes past a local model that reads none to the first endpoint that does; Local only refuses it by name', slow, async () => {
    const image = [{ role: 'user', content: [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }];
    const services = await h.makeServices({
      local: { modelPath: models.answer },
      endpoints: [
        endpoint(h.cloud.baseURL, 'text-only', { id: 'lan', name: 'LAN text model', capabilities: { images: false, tools: null, embeddings: null } }),
        endpoint(h.cloud.baseURL, 'vision-model', { id: 'vision', name: 'Vision cloud', capabilities: { images: true, tools: null, embeddings: null } }),
      ],
    });
    const server = await h.serve(services);
    const { data, response } = await sdk(server).chat.completions.create({ model: 'auto', messages: image as never }).withResponse();
    assert.equal(data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(response.headers.get('x-spillway-endpoint'), 'vision');
    assert.equal(h.cloud.chatRequests().length, 1, 'the LAN model that reads no images was never asked');
    const sent = h.cloud.chatRequests()[0]!.body;
    assert.equal(sent.model, 'vision-model');
    assert.deepEqual(sent.messages[0].content[1], { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, 'the image part is forwarded');
    // A text request still starts on the local model.
    const text = await sdk(server).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(text.response.headers.get('x-spillway-endpoint'), 'local');

    const localOnly = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.answer } }));
    await assert.rejects(sdk(localOnly).chat.completions.create({ model: 'auto', messages: image as never }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.code, 'unsupported');
      assert.match(error.message, /needs an entry that can read images, and local only allows none: The local model cannot read images/);
      return true;
    });
    assert.equal(h.cloud.chatRequests().length, 1);
  });
});

describe('failures through the API', () => {
  let server: RunningServer;
  before(async () => {
    server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' } }));
  });

  test('driver failures become OpenAI errors with the matching HTTP status', async () => {
    const client = sdk(server);
    h.cloud.failNext({ status: 429, headers: { 'retry-after': '30' } });
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: hello }).withResponse(), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError, String(error));
      assert.equal(error.headers?.get('retry-after'), '30');
      return true;
    });
    h.cloud.failNext({ status: 401 });
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: hello }), OpenAI.AuthenticationError);
  });

  test('a failure after streaming started ends the stream with an error event', async () => {
    h.cloud.failNext({ kind: 'mid-stream-error', afterChunks: 2 });
    const { response, data, text } = await streamChat(server);
    assert.equal(response.status, 200);
    assert.ok(text.length > 0 && CLOUD_REPLY.startsWith(text), text);
    const last = JSON.parse(data.at(-1)!);
    assert.match(last.error.message, /broke off/);
    assert.ok(!data.includes('[DONE]'));
  });

  test('a client that hangs up stops the local generation', slow, async () => {
    const services = await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.loop } });
    const looping = await h.serve(services);
    const controller = new AbortController();
    const response = await fetch(`${looping.url}/v1/chat/completions`, {
      method: 'POST',
      // The loop model fills its whole context (about 250 ms here) unless stopped.
      body: JSON.stringify({ messages: hello, stream: true }),
      signal: controller.signal,
    });
    for await (const message of readSse(response.body!)) if (message.data.includes('"content":"t')) break;
    controller.abort();
    const metrics = async () => {
      const result = await services.call('metrics:get', {});
      assert.ok(result.ok);
      return result.value;
    };
    for (let i = 0; i < 100 && (await metrics()).cancelled === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await metrics()).cancelled, 1);
    assert.equal((await metrics()).primarySuccesses, 0);
  });
});
