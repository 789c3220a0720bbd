/**
 * The pure parts of /v1's sampling support: request fields to SamplingOptions, OpenAI's cross-field rules,
 * the logprobs and n-choice body shapes, the finish reason of each stop reason, stop texts over streamed
 * text, and which JSON schemas the local grammar can enforce.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CompletionResponse, TokenLogprob } from '../../electron/core/types.js';
import { grammarSchema } from '../../electron/inference/json-schema-support.js';
import { StopTextScanner } from '../../electron/inference/stop-text.js';
import { choicesBody, choicesUsageChunk, forChoice } from '../../electron/server/openai-choices.js';
import { chatCompletionBody, chunkBody, finishReason } from '../../electron/server/openai-format.js';
import { logprobsBody, MAX_CHOICES, samplingConflict, samplingOf } from '../../electron/server/openai-sampling.js';

const messages = [{ role: 'user', content: 'hi' }];
const parse = (extra: Record<string, unknown>) => chatCompletionBody.parse({ messages, ...extra });

function response(text: string, outputTokens: number, extra: Partial<CompletionResponse> = {}): CompletionResponse {
  return { text, entryId: 'local', model: 'm', usage: { inputTokens: 10, outputTokens }, timings: { timeToFirstTokenMs: 1, totalMs: 2 }, stopReason: 'stop', ...extra };
}

const token = (text: string, logprob: number, top: Array<[string, number]> = []): TokenLogprob => ({
  token: text,
  logprob,
  bytes: [...Buffer.from(text)],
  topLogprobs: top.map(([t, l]) => ({ token: t, logprob: l, bytes: [...Buffer.from(t)] })),
});

describe('samplingOf', () => {
  test('maps each field, and leaves absent ones out so drivers keep their defaults', () => {
    assert.deepEqual(samplingOf(parse({})), {});
    assert.deepEqual(
      samplingOf(parse({ stop: 'END', top_p: 0.5, top_k: 4, min_p: 0.1, presence_penalty: -1, frequency_penalty: 2, logit_bias: { '42': -100 }, logprobs: true, top_logprobs: 3 })),
      { stop: ['END'], topP: 0.5, topK: 4, minP: 0.1, presencePenalty: -1, frequencyPenalty: 2, logitBias: { '42': -100 }, logprobs: 3 },
    );
  });

  test('empty stop texts and an empty logit_bias ask for nothing; logprobs alone asks for no alternatives', () => {
    assert.deepEqual(samplingOf(parse({ stop: ['', 'x'], logit_bias: {}, logprobs: true })), { stop: ['x'], logprobs: 0 });
    assert.deepEqual(samplingOf(parse({ stop: '', logprobs: false })), {});
  });

  test('response_format: json_object and json_schema constrain, text does not', () => {
    assert.deepEqual(samplingOf(parse({ response_format: { type: 'text' } })), {});
    assert.deepEqual(samplingOf(parse({ response_format: { type: 'json_object' } })), { responseFormat: { type: 'json_object' } });
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    assert.deepEqual(samplingOf(parse({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema, strict: true } } })), { responseFormat: { type: 'json_schema', schema } });
  });
});

describe('validation', () => {
  test('OpenAI’s ranges, each refusal naming its field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ top_p: -0.1 }, 'top_p'],
      [{ presence_penalty: 2.1 }, 'presence_penalty'],
      [{ frequency_penalty: -3 }, 'frequency_penalty'],
      [{ logit_bias: { '1': -101 } }, 'logit_bias'],
      [{ logit_bias: { a: 1 } }, 'logit_bias'],
      [{ top_logprobs: 21, logprobs: true }, 'top_logprobs'],
      [{ n: MAX_CHOICES + 1 }, 'n'],
      [{ n: 1.5 }, 'n'],
      [{ response_format: { type: 'json_schema', json_schema: { name: 'has space' } } }, 'response_format'],
    ];
    for (const [extra, field] of cases) {
      const result = chatCompletionBody.safeParse({ messages, ...extra });
      assert.equal(result.success, false, JSON.stringify(extra));
      assert.equal(result.error!.issues[0]!.path[0], field, JSON.stringify(extra));
    }
    assert.equal(parse({ n: MAX_CHOICES }).n, MAX_CHOICES);
  });

  test('top_logprobs needs logprobs, and json_schema needs a schema', () => {
    assert.equal(samplingConflict(parse({ top_logprobs: 2 }))?.param, 'top_logprobs');
    assert.equal(samplingConflict(parse({ top_logprobs: 2, logprobs: true })), null);
    assert.equal(samplingConflict(parse({ response_format: { type: 'json_schema', json_schema: { name: 'a' } } }))?.param, 'response_format.json_schema.schema');
  });
});

describe('bodies', () => {
  test('logprobs in OpenAI’s shape', () => {
    assert.deepEqual(logprobsBody([token('Hi', -0.5, [['Hi', -0.5], ['Yo', -1]])]), {
      content: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105] }, { token: 'Yo', logprob: -1, bytes: [89, 111] }] }],
      refusal: null,
    });
  });

  test('n choices: one per answer with its index and finish reason; the prompt counted once', () => {
    const body = choicesBody('id', 1, [response('a', 3), response('bb', 5, { stopReason: 'length' })], false);
    assert.deepEqual(body.choices.map((c) => [c.index, c.message.content, c.finish_reason, c.logprobs]), [[0, 'a', 'stop', null], [1, 'bb', 'length', null]]);
    assert.deepEqual(body.usage, { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
    assert.deepEqual(choicesUsageChunk('id', 1, [response('a', 3), response('b', 4)]).usage, { prompt_tokens: 10, completion_tokens: 7, total_tokens: 17 });
    const withLogprobs = choicesBody('id', 1, [response('a', 1, { logprobs: [token('a', -0.1)] })], true);
    assert.deepEqual(withLogprobs.choices[0]?.logprobs, { content: [{ token: 'a', logprob: -0.1, bytes: [97], top_logprobs: [] }], refusal: null });
  });

  test('a chunk re-addressed to its choice, with the logprobs of its tokens', () => {
    const chunk = forChoice(chunkBody('id', 1, 'm', { content: 'a' }, null, false), 2, [token('a', -0.2)]);
    assert.equal(chunk.choices[0]?.index, 2);
    assert.deepEqual(chunk.choices[0]?.logprobs, { content: [{ token: 'a', logprob: -0.2, bytes: [97], top_logprobs: [] }], refusal: null });
    assert.equal(forChoice(chunkBody('id', 1, 'm', {}, 'stop', false), 1, null).choices[0]?.logprobs, null);
  });

  test('finish reasons: a model switch mid-answer is a cut-short answer (length), never a complete one', () => {
    assert.equal(finishReason('stop'), 'stop');
    assert.equal(finishReason('length'), 'length');
    assert.equal(finishReason('switched'), 'length');
    assert.equal(finishReason('aborted'), 'stop');
  });
});

describe('StopTextScanner', () => {
  const run = (stops: string[], pieces: string[]) => {
    const scanner = new StopTextScanner(stops);
    const released = pieces.map((piece) => scanner.push(piece));
    return { released, stopped: scanner.stopped, rest: scanner.flush() };
  };

  test('text before the stop text is released, the stop text and what follows are not', () => {
    assert.deepEqual(run(['END'], ['Hello ', 'world END here']), { released: ['Hello ', 'world '], stopped: true, rest: '' });
  });

  test('a stop text split across pieces is held back until it is known, and never leaks', () => {
    assert.deepEqual(run(['END'], ['abc E', 'N', 'D!']), { released: ['abc ', '', ''], stopped: true, rest: '' });
  });

  test('held text that turns out not to be a stop text is released', () => {
    assert.deepEqual(run(['END'], ['abc E', 'Nx']), { released: ['abc ', 'ENx'], stopped: false, rest: '' });
    assert.deepEqual(run(['END'], ['abc EN']), { released: ['abc '], stopped: false, rest: 'EN' });
  });

  test('the earliest of several stop texts wins', () => {
    assert.deepEqual(run(['two', 'one'], ['zero one two']), { released: ['zero '], stopped: true, rest: '' });
  });
});

describe('grammarSchema', () => {
  test('keeps what the grammar enforces, drops annotations, rewrites anyOf and #/definitions/', () => {
    const result = grammarSchema({
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: 'T',
      type: 'object',
      properties: { a: { type: ['string', 'null'], description: 'd' }, n: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }, u: { anyOf: [{ $ref: '#/definitions/x' }, { type: 'boolean' }] } },
      definitions: { x: { type: 'string', format: 'date' } },
      required: ['a'],
      additionalProperties: false,
    });
    assert.deepEqual(result, {
      ok: true,
      schema: {
        type: 'object',
        properties: { a: { type: ['string', 'null'], description: 'd' }, n: { type: 'integer' }, u: { oneOf: [{ $ref: '#/$defs/x' }, { type: 'boolean' }] } },
        $defs: { x: { type: 'string', format: 'date' } },
        required: ['a'],
        additionalProperties: false,
      },
    });
  });

  test('refuses, naming keyword and place, what the grammar would silently ignore', () => {
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ type: 'strin' }, /^\/type: unknown type "strin"/],
      [{ type: 'object', properties: { a: { type: 'string', pattern: 'x' } } }, /^\/properties\/a\/pattern: "pattern" is not supported/],
      [{ allOf: [] }, /allOf/],
      [{ type: 'string', format: 'email' }, /format "email"/],
      [{ type: 'number', minimum: 0 }, /numeric bounds/],
      [{ $ref: 'http://elsewhere/x' }, /references/],
      [{ type: 'array', items: false }, /"false"/],
    ];
    for (const [schema, message] of refusals) {
      const result = grammarSchema(schema);
      assert.equal(result.ok, false, JSON.stringify(schema));
      assert.match((result as { error: string }).error, message);
    }
  });
});
