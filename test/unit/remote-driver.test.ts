import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DriverError } from '../../electron/core/errors.js';
import type { CompletionRequest, DriverErrorKind } from '../../electron/core/types.js';
import { privacyTierForUrl, resolveTier } from '../../electron/drivers/privacy.js';
import { learnCapabilities, RemoteDriver, type RemoteDriverOptions } from '../../electron/drivers/remote-driver.js';
import { parseRetryAfterMs } from '../../electron/drivers/remote-errors.js';
import { getClosedPort, openAIErrorBody, startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';

const REPLY = 'Rivers carry sediment downstream, slowly building deltas where they meet the sea.';
const SECRET = 'sk-test-SECRET-1234567890';
const messages: CompletionRequest['messages'] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'How are river deltas formed?' },
];

let server: FakeOpenAIServer;

before(async () => {
  server = await startFakeOpenAI({ reply: REPLY });
});
after(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  server.setReply(REPLY);
  server.setResponseModel(undefined);
});

function driver(options: Partial<RemoteDriverOptions> = {}): RemoteDriver {
  return new RemoteDriver({ baseURL: server.baseURL, model: 'fake-model', apiKey: SECRET, ...options });
}

/** Asserts the promise rejects with a DriverError of `kind` whose message never leaks the key. */
async function rejectsWith(promise: Promise<unknown>, kind: DriverErrorKind): Promise<DriverError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${kind} DriverError, but the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DriverError, `expected DriverError, got ${String(error)}`);
  assert.equal(error.kind, kind, `wrong kind; message: ${error.message}`);
  assert.ok(!error.message.includes(SECRET), 'the API key leaked into the message');
  return error;
}

describe('RemoteDriver against a real OpenAI-compatible server', () => {
  it('streams a full answer with usage, timings and the served model', async () => {
    server.setResponseModel('fake-model-2025-01-01');
    const deltas: string[] = [];
    const response = await driver({ id: 'cloud' }).complete({ messages, temperature: 0.2, seed: 7, onText: (d) => deltas.push(d) });

    assert.equal(response.text, REPLY);
    assert.equal(response.stopReason, 'stop');
    assert.equal(response.entryId, 'cloud');
    assert.equal(response.model, 'fake-model-2025-01-01');
    assert.deepEqual(response.usage, { inputTokens: 14, outputTokens: REPLY.split(' ').length });
    assert.ok(response.timings.timeToFirstTokenMs !== null && response.timings.timeToFirstTokenMs >= 0);
    assert.ok(response.timings.totalMs >= response.timings.timeToFirstTokenMs);
    assert.ok(deltas.length > 5, 'text should arrive as many deltas, not one blob');
    assert.equal(deltas.join(''), REPLY);
    assert.ok(deltas.every((d) => d.length > 0), 'empty deltas must not reach onText');

    const [sent] = server.chatRequests();
    assert.equal(server.chatRequests().length, 1);
    assert.equal(sent?.body.model, 'fake-model');
    assert.equal(sent?.body.stream, true);
    assert.deepEqual(sent?.body.stream_options, { include_usage: true });
    assert.deepEqual(sent?.body.messages, messages);
    assert.equal(sent?.body.temperature, 0.2);
    assert.equal(sent?.body.seed, 7);
    assert.equal('max_tokens' in sent!.body, false, 'unset options are not forwarded');
    assert.equal(sent?.headers.authorization, `Bearer ${SECRET}`);
  });

  it('delivers deltas in server order and maps finish_reason length', async () => {
    server.setReply('one two three four five six');
    const deltas: string[] = [];
    const response = await driver().complete({ messages, maxTokens: 4, onText: (d) => deltas.push(d) });
    assert.deepEqual(deltas, ['one ', 'two ', 'three ', 'four ']);
    assert.equal(response.text, 'one two three four ');
    assert.equal(response.stopReason, 'length');
    assert.equal(server.chatRequests()[0]?.body.max_tokens, 4);
  });

  it('works without an API key (local servers need none) and sends a placeholder', async () => {
    const response = await driver({ apiKey: undefined }).complete({ messages });
    assert.equal(response.text, REPLY);
    assert.equal(server.requests[0]?.headers.authorization, 'Bearer not-needed');
  });

  it('retries a 429 once after Retry-After: 1 and then succeeds, with no SDK-level retries', async () => {
    server.failNext({ status: 429, headers: { 'retry-after': '1' } });
    const started = performance.now();
    const response = await driver().complete({ messages });
    assert.equal(response.text, REPLY);
    assert.equal(server.chatRequests().length, 2);
    assert.ok(performance.now() - started >= 950, 'the driver must honour Retry-After');
  });

  it('honours retry-after-ms and gives up after maxRateLimitRetries with rate_limited', async () => {
    server.failNext(...Array(5).fill({ status: 429, headers: { 'retry-after-ms': '20' } }));
    const error = await rejectsWith(driver({ maxRateLimitRetries: 2 }).complete({ messages }), 'rate_limited');
    assert.equal(error.retryAfterMs, 20);
    assert.equal(server.chatRequests().length, 3, 'one attempt plus two retries');
  });

  it('fails at once when Retry-After exceeds the cap', async () => {
    server.failNext({ status: 429, headers: { 'retry-after': '120' } });
    const started = performance.now();
    const error = await rejectsWith(driver({ maxRetryAfterMs: 5_000 }).complete({ messages }), 'rate_limited');
    assert.equal(error.retryAfterMs, 120_000);
    assert.ok(error.retryable);
    assert.equal(server.chatRequests().length, 1);
    assert.ok(performance.now() - started < 1_000);
  });

  it('resolves as aborted when cancelled while waiting out a Retry-After', async () => {
    server.failNext({ status: 429, headers: { 'retry-after': '5' } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const response = await driver().complete({ messages, signal: controller.signal });
    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, '');
    assert.ok(performance.now() - started < 1_000);
    assert.equal(server.chatRequests().length, 1);
  });

  const statusCases: Array<[string, number, unknown, DriverErrorKind, RegExp]> = [
    ['500', 500, undefined, 'inference_failed', /HTTP 500/],
    ['503 with plain text body', 503, 'upstream overloaded', 'inference_failed', /upstream overloaded/],
    ['401', 401, openAIErrorBody(`Incorrect API key provided: ${SECRET}`, 'invalid_request_error', 'invalid_api_key'), 'auth', /API key/],
    ['403', 403, undefined, 'auth', /HTTP 403/],
    ['404', 404, openAIErrorBody('The model `fake-model` does not exist', 'invalid_request_error', 'model_not_found'), 'model_not_found', /"fake-model"/],
    ['408', 408, undefined, 'timeout', /timed out/],
    ['400 context_length_exceeded', 400, openAIErrorBody("This model's maximum context length is 8192 tokens.", 'invalid_request_error', 'context_length_exceeded'), 'context_overflow', /too long/],
    ['400 llama.cpp context wording', 400, openAIErrorBody('the request exceeds the available context size, try increasing it'), 'context_overflow', /too long/],
    ['400 other', 400, openAIErrorBody("'temperature' must be between 0 and 2"), 'invalid_request', /temperature/],
    ['422', 422, openAIErrorBody('messages: field required'), 'invalid_request', /HTTP 422/],
  ];
  for (const [name, status, body, kind, message] of statusCases) {
    it(`maps HTTP ${name} to ${kind} without retrying`, async () => {
      server.failNext({ status, body });
      const error = await rejectsWith(driver().complete({ messages }), kind);
      assert.match(error.message, message);
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`), 'the message names the endpoint');
      assert.equal(server.chatRequests().length, 1, 'neither the SDK nor the driver retried');
    });
  }

  it('maps connection refused to network', async () => {
    const port = await getClosedPort();
    const error = await rejectsWith(driver({ baseURL: `http://127.0.0.1:${port}/v1` }).complete({ messages }), 'network');
    assert.match(error.message, /refused/);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it('maps a server that never answers to timeout', async () => {
    server.failNext('hang');
    const started = performance.now();
    await rejectsWith(driver({ requestTimeoutMs: 200 }).complete({ messages }), 'timeout');
    assert.ok(performance.now() - started < 2_000);
    assert.equal(server.chatRequests().length, 1, 'a timeout is not retried');
  });

  it('maps a stream that goes silent mid-answer to timeout after streaming some text', async () => {
    server.failNext({ kind: 'hang', afterChunks: 2 });
    const deltas: string[] = [];
    await rejectsWith(driver({ requestTimeoutMs: 200 }).complete({ messages, onText: (d) => deltas.push(d) }), 'timeout');
    assert.equal(deltas.length, 2);
  });

  it('maps a malformed SSE chunk to inference_failed', async () => {
    server.failNext('malformed');
    const error = await rejectsWith(driver().complete({ messages }), 'inference_failed');
    assert.match(error.message, /malformed/);
  });

  it('rejects on an error event mid-stream after text has streamed', async () => {
    server.failNext({ kind: 'mid-stream-error', afterChunks: 3 });
    const deltas: string[] = [];
    const error = await rejectsWith(driver().complete({ messages, onText: (d) => deltas.push(d) }), 'inference_failed');
    assert.equal(deltas.length, 3);
    assert.match(error.message, /crashed/);
  });

  it('classifies a mid-stream context error by its code', async () => {
    server.failNext({ kind: 'mid-stream-error', afterChunks: 0, error: { message: 'Too long', code: 'context_length_exceeded' } });
    await rejectsWith(driver().complete({ messages }), 'context_overflow');
  });

  it('maps a dropped connection mid-stream to network', async () => {
    server.failNext({ kind: 'drop', afterChunks: 2 });
    const deltas: string[] = [];
    await rejectsWith(driver().complete({ messages, onText: (d) => deltas.push(d) }), 'network');
    assert.equal(deltas.length, 2);
  });

  it('resolves with the partial text when aborted mid-stream', async () => {
    server.failNext({ kind: 'slow', delayMs: 40 });
    const controller = new AbortController();
    const deltas: string[] = [];
    let abortedAt = 0;
    const response = await driver().complete({
      messages,
      signal: controller.signal,
      onText: (d) => {
        deltas.push(d);
        if (deltas.length === 3) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, deltas.join(''));
    assert.equal(deltas.length, 3);
    assert.ok(response.text.length > 0 && response.text.length < REPLY.length);
    assert.ok(performance.now() - abortedAt < 200, 'abort must not wait for the stream to finish');
  });

  it('resolves as aborted without contacting the server when already cancelled', async () => {
    const response = await driver().complete({ messages, signal: AbortSignal.abort() });
    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, '');
    assert.equal(response.timings.timeToFirstTokenMs, null);
    assert.equal(server.requests.length, 0, 'the remote received nothing');
  });

  it('testConnection lists the models, and maps failures', async () => {
    const result = await driver().testConnection();
    assert.equal(result.ok, true);
    assert.deepEqual(result.models, ['fake-model', 'fake-model-large']);
    assert.ok(result.latencyMs >= 0);
    assert.equal(server.requests[0]?.method, 'GET');
    assert.equal(server.requests[0]?.path, '/v1/models');

    server.failNext({ status: 401 });
    await rejectsWith(driver().testConnection(), 'auth');
  });
});

describe('RemoteDriver configuration', () => {
  it('reports id, model, context window and a privacy tier derived from the URL', () => {
    const d = new RemoteDriver({ baseURL: 'https://api.openai.com/v1', model: 'gpt-x' });
    assert.equal(d.id, 'remote');
    assert.equal(d.modelName(), 'gpt-x');
    assert.equal(d.contextWindow(), 128_000);
    assert.equal(d.privacyTier(), 'standard');
    assert.equal(driver().privacyTier(), 'sovereign');
    assert.equal(new RemoteDriver({ baseURL: 'http://192.168.1.5:1234/v1', model: 'm', contextWindow: 8192 }).contextWindow(), 8192);
  });

  it('honours a privacy tier override', () => {
    const d = new RemoteDriver({ baseURL: 'http://127.0.0.1:11434/v1', model: 'm', privacyTier: 'standard' });
    assert.equal(d.privacyTier(), 'standard');
  });

  it('rejects a base URL that is not http(s)', () => {
    assert.throws(() => new RemoteDriver({ baseURL: 'not a url', model: 'm' }), (e: unknown) => e instanceof DriverError && e.kind === 'invalid_request');
  });
});

describe('privacyTierForUrl', () => {
  const table: Array<[string, ReturnType<typeof privacyTierForUrl>]> = [
    ['http://localhost:11434/v1', 'sovereign'],
    ['http://LOCALHOST/v1', 'sovereign'],
    ['http://ollama.localhost/v1', 'sovereign'],
    ['http://127.0.0.1:1234/v1', 'sovereign'],
    ['http://127.8.9.10/v1', 'sovereign'],
    ['http://[::1]:8080/v1', 'sovereign'],
    ['http://[::ffff:127.0.0.1]/v1', 'sovereign'],
    ['localhost:11434/v1', 'sovereign'],
    ['http://192.168.1.5:1234/v1', 'private'],
    ['http://10.0.0.2/v1', 'private'],
    ['http://172.20.1.1/v1', 'private'],
    ['http://172.16.0.1/v1', 'private'],
    ['http://172.31.255.255/v1', 'private'],
    ['http://172.32.0.1/v1', 'standard'],
    ['http://172.15.0.1/v1', 'standard'],
    ['http://169.254.10.1/v1', 'private'],
    ['http://100.64.0.1/v1', 'private'],
    ['http://100.128.0.1/v1', 'standard'],
    ['http://[fd00::1]/v1', 'private'],
    ['http://[fe80::1]/v1', 'private'],
    ['http://[::ffff:192.168.0.9]/v1', 'private'],
    ['http://foo.local:8080/v1', 'private'],
    ['http://gpu-box.lan/v1', 'private'],
    ['http://nas.home.arpa/v1', 'private'],
    ['http://llm.internal/v1', 'private'],
    ['https://api.openai.com/v1', 'standard'],
    ['https://local.example.com/v1', 'standard'],
    ['https://localhost.evil.com/v1', 'standard'],
    ['http://8.8.8.8/v1', 'standard'],
    ['http://[2001:db8::1]/v1', 'standard'],
    ['not a url at all', 'standard'],
  ];
  for (const [url, tier] of table) {
    it(`${url} → ${tier}`, () => assert.equal(privacyTierForUrl(url), tier));
  }
});

describe('parseRetryAfterMs', () => {
  it('reads seconds, milliseconds and HTTP dates', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:03 GMT' }), now), 3000);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' })), undefined);
    assert.equal(parseRetryAfterMs(new Headers()), undefined);
  });
});

describe('declared tiers', () => {
  it('may be more permissive than the URL shows, never less', () => {
    assert.equal(resolveTier('http://127.0.0.1:4000/v1', null), 'sovereign');
    assert.equal(resolveTier('http://127.0.0.1:4000/v1', 'standard'), 'standard', 'a loopback proxy to the cloud');
    assert.equal(resolveTier('http://192.168.1.20/v1', 'standard'), 'standard');
    assert.throws(() => resolveTier('http://192.168.1.20/v1', 'sovereign'), /192\.168\.1\.20 is on the local network \(private\), so it cannot be declared sovereign/);
    assert.throws(() => resolveTier('https://api.openai.com/v1', 'private'), (error: unknown) => error instanceof DriverError && error.kind === 'invalid_request');
  });

  it('the driver refuses a less permissive tier when it is built', () => {
    assert.throws(() => new RemoteDriver({ baseURL: 'https://api.openai.com/v1', model: 'm', privacyTier: 'sovereign' }), /cannot be declared sovereign/);
    assert.equal(new RemoteDriver({ baseURL: 'http://localhost:1234/v1', model: 'm', privacyTier: 'private' }).privacyTier(), 'private');
  });
});

describe('capabilities learned from a model listing', () => {
  it("reads OpenRouter's architecture and supported parameters", () => {
    assert.deepEqual(learnCapabilities({ id: 'x', architecture: { input_modalities: ['text', 'image'] }, supported_parameters: ['tools', 'temperature'] }), { images: true, tools: true });
    assert.deepEqual(learnCapabilities({ id: 'x', architecture: { input_modalities: ['text'] }, supported_parameters: ['temperature'] }), { images: false, tools: false });
  });

  it("reads LM Studio's type and an Ollama-style capabilities list", () => {
    assert.deepEqual(learnCapabilities({ id: 'x', type: 'vlm' }), { images: true });
    assert.deepEqual(learnCapabilities({ id: 'x', type: 'embeddings' }), { embeddings: true });
    assert.deepEqual(learnCapabilities({ id: 'x', capabilities: ['completion', 'vision'] }), { images: true, tools: false, embeddings: false });
  });

  it('says nothing where the listing says nothing (plain OpenAI)', () => {
    assert.deepEqual(learnCapabilities({ id: 'gpt-4o', object: 'model', created: 0, owned_by: 'openai' }), {});
  });
});
