/**
 * OpenAI tool turns ↔ node-llama-cpp chat history, the functions a request offers under its tool choice,
 * which chat wrappers count as calling functions, and how streamed calls are collected.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChatMLChatWrapper, GeneralChatWrapper, Llama3_1ChatWrapper, Llama3ChatWrapper, QwenChatWrapper, type ChatHistoryItem } from 'node-llama-cpp';
import type { ToolCallDelta, ToolSpec } from '../../electron/core/types.js';
import { forcedCallWrapper, functionSetup, supportsFunctionCalling, supportsParallelCalls, toChatHistory, ToolCallCollector } from '../../electron/inference/function-calling.js';
import { chatCompletionBody, toChatMessages } from '../../electron/server/openai-format.js';

const call = (id: string, name: string, args: string) => ({ id, type: 'function' as const, function: { name, arguments: args } });

describe('OpenAI tool turns to node-llama-cpp history', () => {
  const body = chatCompletionBody.parse({
    messages: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris and Lyon?' },
      { role: 'assistant', content: 'Checking.', tool_calls: [call('call_a', 'weather', '{"city":"Paris"}'), call('call_b', 'weather', '{"city":"Lyon"}')] },
      { role: 'tool', tool_call_id: 'call_b', content: '{"temp":18}' },
      { role: 'tool', tool_call_id: 'call_a', content: 'sunny, 21 degrees' },
      { role: 'assistant', content: null, tool_calls: [call('call_c', 'time', '{}')] },
      { role: 'tool', tool_call_id: 'call_c', content: '"12:00"' },
    ],
  });

  test('messages keep their calls and the ids their results answer', () => {
    const messages = toChatMessages(body);
    assert.deepEqual(messages[2], {
      role: 'assistant',
      content: 'Checking.',
      toolCalls: [{ id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' }, { id: 'call_b', name: 'weather', arguments: '{"city":"Lyon"}' }],
    });
    assert.deepEqual(messages[3], { role: 'tool', content: '{"temp":18}', toolCallId: 'call_b' });
    assert.deepEqual(messages[0], { role: 'system', content: 'Be brief.' });
  });

  test('calls become function-call segments with their results, rounds join one model turn, which the answer continues', () => {
    const history = toChatHistory(toChatMessages(body));
    const expected: ChatHistoryItem[] = [
      { type: 'system', text: 'Be brief.' },
      { type: 'user', text: 'Weather in Paris and Lyon?' },
      {
        type: 'model',
        response: [
          'Checking.',
          { type: 'functionCall', name: 'weather', params: { city: 'Paris' }, result: 'sunny, 21 degrees', startsNewChunk: true },
          { type: 'functionCall', name: 'weather', params: { city: 'Lyon' }, result: { temp: 18 } },
          { type: 'functionCall', name: 'time', params: {}, result: '12:00', startsNewChunk: true },
        ],
      },
    ];
    assert.deepEqual(history, expected, 'no empty model turn after results: generation continues the turn that called');
  });

  test('a conversation ending on a user turn gets an empty model turn; a stray tool result stays visible as text', () => {
    assert.deepEqual(toChatHistory([{ role: 'user', content: 'Hi' }]), [{ type: 'user', text: 'Hi' }, { type: 'model', response: [] }]);
    assert.deepEqual(toChatHistory([{ role: 'tool', content: '42', toolCallId: 'nope' }, { role: 'user', content: 'So?' }]), [
      { type: 'user', text: 'Tool result: 42' },
      { type: 'user', text: 'So?' },
      { type: 'model', response: [] },
    ]);
  });
});

describe('the functions a request offers', () => {
  const tools: ToolSpec[] = [
    { name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    { name: 'now', parameters: { type: 'object', properties: {} } },
  ];

  test('auto offers all, none and no tools offer nothing, required forces, a name forces that one alone', () => {
    assert.deepEqual(functionSetup(tools, 'auto', undefined), {
      functions: { weather: { description: 'Weather', params: tools[0]!.parameters }, now: {} },
      forced: false,
    });
    assert.equal(functionSetup(tools, 'none', undefined), null);
    assert.equal(functionSetup([], 'auto', undefined), null);
    assert.equal(functionSetup(undefined, undefined, undefined), null);
    assert.equal(functionSetup(tools, 'required', undefined)?.forced, true);
    const named = functionSetup(tools, { name: 'now' }, undefined);
    assert.deepEqual(Object.keys(named!.functions), ['now']);
    assert.equal(named!.forced, true);
  });

  test('parallel_tool_calls false allows one call; otherwise the template decides', () => {
    assert.equal(functionSetup(tools, 'auto', false)?.maxParallelFunctionCalls, 1);
    assert.equal(functionSetup(tools, 'auto', true)?.maxParallelFunctionCalls, undefined);
  });
});

describe('chat wrappers', () => {
  test('only a wrapper with a function-call syntax of its own counts as calling functions', () => {
    assert.equal(supportsFunctionCalling(new GeneralChatWrapper()), false);
    assert.equal(supportsFunctionCalling(new ChatMLChatWrapper()), false);
    assert.equal(supportsFunctionCalling(new Llama3ChatWrapper()), true);
    assert.equal(supportsFunctionCalling(new Llama3_1ChatWrapper()), true);
    assert.equal(supportsFunctionCalling(new QwenChatWrapper()), true);
    assert.equal(supportsParallelCalls(new Llama3ChatWrapper()), true);
    assert.equal(supportsParallelCalls(new Llama3ChatWrapper({ parallelFunctionCalling: false })), false);
  });

  test('the forced wrapper writes the same prompt and starts the response inside a call', () => {
    const inner = new Llama3ChatWrapper();
    const chatHistory: ChatHistoryItem[] = [{ type: 'user', text: 'Hi' }, { type: 'model', response: [] }];
    const availableFunctions = { weather: { description: 'Weather' } };
    const plain = inner.generateContextState({ chatHistory, availableFunctions });
    const forced = forcedCallWrapper(inner).generateContextState({ chatHistory, availableFunctions });
    assert.equal(forced.contextText.toString(), plain.contextText.toString());
    assert.deepEqual(forced.functionCall, { initiallyEngaged: true, disengageInitiallyEngaged: [] });
    assert.equal(forcedCallWrapper(inner).settings, inner.settings);
  });
});

describe('collecting streamed calls', () => {
  test('the first delta names the call, arguments follow without the grammar’s trailing newlines, a call without arguments gets {}', () => {
    const deltas: ToolCallDelta[] = [];
    const collector = new ToolCallCollector((delta) => deltas.push(delta));
    collector.onParamsChunk(0, 'weather', '{"city":');
    collector.onParamsChunk(0, 'weather', '\n');
    collector.onParamsChunk(0, 'weather', ' "Paris"}\n\n');
    collector.onParamsChunk(0, 'weather', '\n\n');
    collector.onCall(0, 'weather');
    collector.onCall(1, 'now');
    const calls = collector.result();
    assert.equal(calls.length, 2);
    assert.match(calls[0]!.id, /^call_[0-9a-f]{24}$/);
    assert.notEqual(calls[0]!.id, calls[1]!.id);
    assert.deepEqual(calls.map((c) => [c.name, c.arguments]), [['weather', '{"city":\n "Paris"}'], ['now', '{}']]);
    assert.deepEqual(deltas, [
      { index: 0, id: calls[0]!.id, name: 'weather', arguments: '' },
      { index: 0, arguments: '{"city":' },
      { index: 0, arguments: '\n "Paris"}' },
      { index: 1, id: calls[1]!.id, name: 'now', arguments: '' },
      { index: 1, arguments: '{}' },
    ]);
  });
});
