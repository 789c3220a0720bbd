/**
 * Tool calling through /v1 as an SDK user sees it: on a generated local model that calls get_weather and
 * answers from the result (node-llama-cpp's function calling, nothing run in the host), streamed and not,
 * with tool_choice; and the same loop forwarded to an endpoint that streams tool calls.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { RunningServer } from '../../electron/server/http-server.js';
import { readSse } from '../fixtures/http-client.js';
import type { FixtureModels } from '../fixtures/models.js';
import { CLOUD_REPLY, sdk, type Harness, useHarness } from '../fixtures/server-harness.js';
import { TOOL_ANSWER, TOOL_ARGUMENTS, TOOL_NAME, writeToolCallModel } from '../fixtures/tool-model.js';

let h: Harness;
let models: FixtureModels;

useHarness((made) => ({ h, models } = made));

const weather: ChatCompletionTool = {
  type: 'function',
  function: { name: TOOL_NAME, description: 'Current weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const time: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_time', description: 'Current time in a zone', parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC'] } }, required: ['zone'] } },
};
const question: ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
const RESULT = '{"temperature": 21, "sky": "clear"}';

/** A function tool call's function (the SDK's type also allows custom tools). */
function fn(call: OpenAI.Chat.Completions.ChatCompletionMessageToolCall | undefined): { name: string; arguments: string } {
  assert.equal(call?.type, 'function');
  return (call as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function;
}

/** The conversation after the model's tool calls were run: the assistant turn as returned, then one result per call. */
function withResults(messages: ChatCompletionMessageParam[], message: OpenAI.Chat.Completions.ChatCompletionMessage): ChatCompletionMessageParam[] {
  return [
    ...messages,
    { role: 'assistant', content: message.content, tool_calls: message.tool_calls },
    ...(message.tool_calls ?? []).map((call): ChatCompletionMessageParam => ({ role: 'tool', tool_call_id: call.id, content: RESULT })),
  ];
}

describe('tools on the local model', { timeout: 180_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: models.tools } }));
  });

  test('a whole tool loop: a call with valid arguments and finish_reason tool_calls, then an answer from the result', async () => {
    const client = sdk(server);
    const { data: first, response } = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather, time] }).withResponse();
    assert.equal(response.headers.get('x-spillway-endpoint'), 'local');
    const choice = first.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls?.length, 1);
    const call = choice.message.tool_calls![0]!;
    assert.match(call.id, /^call_\w+$/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, TOOL_NAME);
    assert.deepEqual(JSON.parse(call.function.arguments), TOOL_ARGUMENTS);
    assert.ok(first.usage!.completion_tokens >= 3, `the call's tokens are counted: ${first.usage!.completion_tokens}`);

    const second = await client.chat.completions.create({ model: 'auto', messages: withResults(question, choice.message), tools: [weather, time] });
    assert.equal(second.choices[0]?.message.content, TOOL_ANSWER);
    assert.equal(second.choices[0]?.finish_reason, 'stop');
    assert.equal(second.choices[0]?.message.tool_calls, undefined);
  });

  test('streamed: the call arrives as tool_calls deltas the SDK reassembles, the last chunk says tool_calls', async () => {
    const client = sdk(server);
    const stream = client.chat.completions.stream({ model: 'auto', messages: question, tools: [weather], stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    stream.on('chunk', (chunk) => chunks.push(chunk));
    const final = await stream.finalChatCompletion();
    const message = final.choices[0]!.message;
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(message.tool_calls?.length, 1);
    assert.equal(message.tool_calls![0]!.function.name, TOOL_NAME);
    assert.deepEqual(JSON.parse(message.tool_calls![0]!.function.arguments), TOOL_ARGUMENTS);
    assert.ok(final.usage && final.usage.completion_tokens > 0, 'usage came in its own chunk');

    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.equal(deltas[0]?.id, message.tool_calls![0]!.id, 'the first delta of a call carries its id');
    assert.equal(deltas[0]?.function?.name, TOOL_NAME);
    assert.ok(deltas.every((delta) => delta.index === 0));
    assert.equal(deltas.map((delta) => delta.function?.arguments ?? '').join(''), message.tool_calls![0]!.function.arguments, 'the arguments are the deltas joined, without the grammar’s end marker');
    const finishes = chunks.map((chunk) => chunk.choices[0]?.finish_reason).filter(Boolean);
    assert.deepEqual(finishes, ['tool_calls']);

    const answer = await client.chat.completions.stream({ model: 'auto', messages: withResults(question, message), tools: [weather] }).finalChatCompletion();
    assert.equal(answer.choices[0]?.message.content, TOOL_ANSWER);
    assert.equal(answer.choices[0]?.finish_reason, 'stop');
  });

  test('tool_choice none: no tool calls, the model only writes text', async () => {
    const completion = await sdk(server).chat.completions.create({ model: 'auto', messages: question, tools: [weather], tool_choice: 'none' });
    assert.equal(completion.choices[0]?.message.tool_calls, undefined);
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.equal(typeof completion.choices[0]?.message.content, 'string');
  });

  test('tool_choice required forces a call even where the model would answer; a named function is the one called', async () => {
    const client = sdk(server);
    const first = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather] });
    const afterResult = withResults(question, first.choices[0]!.message);
    const auto = await client.chat.completions.create({ model: 'auto', messages: afterResult, tools: [weather] });
    assert.equal(auto.choices[0]?.message.content, TOOL_ANSWER, 'left to itself the model answers from the result');
    const required = await client.chat.completions.create({ model: 'auto', messages: afterResult, tools: [weather], tool_choice: 'required' });
    assert.equal(required.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(fn(required.choices[0]?.message.tool_calls?.[0]).name, TOOL_NAME);

    // The model prefers get_weather; naming get_time offers only that function.
    const named = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather, time], tool_choice: { type: 'function', function: { name: 'get_time' } } });
    assert.equal(named.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(fn(named.choices[0]?.message.tool_calls?.[0]).name, 'get_time');
    assert.deepEqual(JSON.parse(fn(named.choices[0]?.message.tool_calls?.[0]).arguments), { zone: 'UTC' });
  });

  test('malformed tool turns and tool choices get a 400 naming the field', async () => {
    const client = sdk(server);
    const refused = async (body: Record<string, unknown>, param: string, message: RegExp) => {
      await assert.rejects(client.chat.completions.create({ model: 'auto', messages: question, ...body } as never), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.param, param);
        assert.match(error.message, message);
        return true;
      });
    };
    await refused({ messages: [...question, { role: 'tool', tool_call_id: 'call_x', content: '1' }] }, 'messages[1]', /must follow an assistant message with tool_calls/);
    const call = { id: 'call_1', type: 'function', function: { name: TOOL_NAME, arguments: '{}' } };
    await refused({ messages: [...question, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_2', content: '1' }] }, 'messages[2].tool_call_id', /answers no call/);
    await refused({ messages: [...question, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'user', content: 'and?' }] }, 'messages[1].tool_calls', /no tool message answers call_1/);
    await refused({ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice.function.name', /names no tool/);
    await refused({ tool_choice: 'required' }, 'tool_choice', /has no tools/);
    await refused({ tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools[0].function.name', /letters, digits/);
    await refused({ tools: [{ type: 'function' }] }, 'tools[0].function', /needs its "function"/);
  });

  test('tools with response_format or logprobs, or with parameters the grammar would not enforce, are refused saying why; with tool_choice none they are served', async () => {
    const client = sdk(server);
    const jsonFormat = { type: 'json_object' } as const;
    for (const extra of [{ response_format: jsonFormat }, { logprobs: true }]) {
      await assert.rejects(client.chat.completions.create({ model: 'auto', messages: question, tools: [weather], ...extra }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.match(error.message, /cannot be combined with tools on the local model/);
        return true;
      });
    }
    // Parameters the call grammar would not enforce are refused, naming the function and the keyword.
    const coded: ChatCompletionTool = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{3}$' } } } } };
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: question, tools: [coded] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.match(error.message, /parameters of function "lookup".*\/properties\/code\/pattern.*not supported/);
      return true;
    });
    const plain = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather], tool_choice: 'none', logprobs: true, max_tokens: 4 });
    assert.ok((plain.choices[0]?.logprobs?.content?.length ?? 0) > 0, 'logprobs without tools offered');
  });
});

describe('parallel_tool_calls on a template with parallel calls', { timeout: 180_000 }, () => {
  test('false stops after one call of a model that would go on calling; otherwise the calls go on', async () => {
    const repeating = writeToolCallModel(join(models.dir, 'repeating.gguf'), { repeatCalls: true });
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'local-only' }, local: { modelPath: repeating } }));
    const client = sdk(server);
    const one = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather], parallel_tool_calls: false });
    assert.equal(one.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(one.choices[0]?.message.tool_calls?.length, 1);

    const deltas: number[] = [];
    const stream = client.chat.completions.stream({ model: 'auto', messages: question, tools: [weather], max_tokens: 60 });
    stream.on('chunk', (chunk) => deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []).filter((d) => d.id !== undefined).map((d) => d.index)));
    const many = await stream.finalChatCompletion();
    assert.ok(deltas.length >= 2, `calls streamed: ${deltas.join(', ')}`);
    assert.deepEqual(deltas, deltas.map((_, i) => i), 'each call has the next index');
    assert.equal(many.choices[0]?.finish_reason, 'length', 'cut off by max_tokens while still calling');
    const kept = await client.chat.completions.create({ model: 'auto', messages: question, tools: [weather], max_tokens: 60 });
    assert.equal(kept.choices[0]?.finish_reason, 'length');
    assert.equal(kept.choices[0]?.message.tool_calls?.length, deltas.length, 'not streamed, the answer has the same calls');
  });
});

describe('tools and the route', { timeout: 180_000 }, () => {
  test('a model that calls functions answers tool requests itself; one that does not is passed by for the endpoint', async () => {
    const toolsFirst = await h.serve(await h.makeServices({ local: { modelPath: models.tools } }));
    const local = await sdk(toolsFirst).chat.completions.create({ model: 'auto', messages: question, tools: [weather] }).withResponse();
    assert.equal(local.response.headers.get('x-spillway-endpoint'), 'local', 'the first request waited for the load that tells the model calls functions');
    assert.equal(local.data.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(h.cloud.chatRequests().length, 0);

    const plainFirst = await h.serve(await h.makeServices({ local: { modelPath: models.answer } }));
    const cloud = await sdk(plainFirst).chat.completions.create({ model: 'auto', messages: question, tools: [weather] }).withResponse();
    assert.equal(cloud.response.headers.get('x-spillway-endpoint'), 'cloud');
  });
});

describe('tools forwarded to an endpoint', { timeout: 60_000 }, () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'cloud-model', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  const CALL_CHUNKS = [
    chunk({ role: 'assistant', content: null }),
    chunk({ tool_calls: [{ index: 0, id: 'call_remote', type: 'function', function: { name: TOOL_NAME, arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({}, 'tool_calls'),
  ];

  test('the whole loop: streamed tool calls reach the SDK, the tool result reaches the endpoint unchanged', async () => {
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' } }));
    const client = sdk(server);
    h.cloud.failNext({ kind: 'script', chunks: CALL_CHUNKS });
    const final = await client.chat.completions.stream({ model: 'auto', messages: question, tools: [weather], parallel_tool_calls: false }).finalChatCompletion();
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(final.choices[0]?.message.tool_calls?.map((c) => [c.id, c.function.name, c.function.arguments]), [['call_remote', TOOL_NAME, '{"city":"Paris"}']]);
    assert.equal(h.cloud.chatRequests()[0]?.body.parallel_tool_calls, false);

    const messages = withResults(question, final.choices[0]!.message);
    const answer = await client.chat.completions.create({ model: 'auto', messages, tools: [weather] });
    assert.equal(answer.choices[0]?.message.content, CLOUD_REPLY);
    const sent = h.cloud.chatRequests()[1]?.body as { messages: unknown[]; tools: unknown[] };
    assert.deepEqual(sent.messages, JSON.parse(JSON.stringify(messages)), 'the tool turns arrive as the client sent them');
    assert.deepEqual(sent.tools, [weather]);
  });

  test('raw stream: the endpoint’s tool-call chunks pass through one for one; other tool kinds travel on', async () => {
    const custom = { type: 'custom', custom: { name: 'grep', description: 'Search files' } };
    const allowed = { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: TOOL_NAME } }] } };
    const server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' } }));
    h.cloud.failNext({ kind: 'script', chunks: CALL_CHUNKS });
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: question, tools: [weather, custom], tool_choice: allowed, stream: true }),
    });
    const data: string[] = [];
    for await (const message of readSse(response.body!)) data.push(message.data);
    assert.deepEqual(data.slice(0, -1).map((d) => JSON.parse(d)), CALL_CHUNKS);
    assert.equal(data.at(-1), '[DONE]');
    const sent = h.cloud.chatRequests()[0]?.body;
    assert.deepEqual([sent?.tools, sent?.tool_choice], [[weather, custom], allowed], 'tool kinds Spillway does not run itself reach the endpoint as sent');
  });
});
