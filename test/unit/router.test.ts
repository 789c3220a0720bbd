import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeltaBatcher } from '../../electron/core/delta-batcher.js';
import { DriverError, isSpillableKind } from '../../electron/core/errors.js';
import { describeTier, mostPermissive, mostRestrictive, tierAllowed } from '../../electron/core/privacy.js';
import { RoutingDriver, type RoutingDriverOptions } from '../../electron/core/router.js';
import { DEFAULT_FIRST_TOKEN_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from '../../electron/core/deadlines.js';
import {
  PRIVACY_TIERS,
  type ChatMessage,
  type CompletionResponse,
  type DriverErrorKind,
  type PrivacyTier,
} from '../../electron/core/types.js';
import { rejectsWith } from '../fixtures/assertions.js';
import { gate, ScriptedDriver, type ScriptedDriverOptions } from '../fixtures/scripted-driver.js';

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Why is the sky blue?' },
];
const LOCAL_ANSWER = 'Rayleigh scattering favours short wavelengths.';
const CLOUD_ANSWER = 'Blue light scatters more in the atmosphere.';
const RETRYABLE: DriverErrorKind[] = ['inference_failed', 'model_not_found', 'network', 'timeout', 'rate_limited', 'context_overflow'];

function local(options: ScriptedDriverOptions = {}): ScriptedDriver {
  return new ScriptedDriver({ id: 'local', model: 'local-model', privacyTier: 'sovereign', contextWindow: 4096, script: { reply: LOCAL_ANSWER }, ...options });
}

function cloud(options: ScriptedDriverOptions = {}): ScriptedDriver {
  return new ScriptedDriver({ id: 'cloud', model: 'cloud-model', privacyTier: 'standard', contextWindow: 128_000, script: { reply: CLOUD_ANSWER }, ...options });
}

function router(options: RoutingDriverOptions): RoutingDriver {
  return new RoutingDriver(options);
}

function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void; set: (t: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (value) => (t = value) };
}

describe('RoutingDriver: strategy defaults', { timeout: 5000 }, () => {
  it('defaults to primary-with-fallback when a fallback is given', () => {
    const r = router({ primary: local(), fallback: cloud() });
    assert.equal(r.getStrategy(), 'local-first');
    assert.equal(r.metrics().strategy, 'local-first');
  });

  it('defaults to primary-only without a fallback (absent or null)', () => {
    assert.equal(router({ primary: local() }).getStrategy(), 'local-only');
    assert.equal(router({ primary: local(), fallback: null }).getStrategy(), 'local-only');
  });

  it('honours an explicit strategy', () => {
    assert.equal(router({ primary: local(), fallback: cloud(), strategy: 'fallback-only' }).getStrategy(), 'cloud-only');
  });

  it('setStrategy at run time applies to the next request, not to one already in flight', async () => {
    const open = gate();
    const primary = local({ script: [{ fail: 'network', message: 'socket closed', until: open.promise }, { fail: 'network', message: 'socket closed' }] });
    const fallback = cloud();
    const r = router({ primary, fallback });

    const inFlight = r.complete({ messages });
    await primary.waitForCall();
    r.setStrategy('primary-only');
    assert.equal(r.getStrategy(), 'local-only');
    open.open();
    const first = await inFlight;
    assert.equal(first.entryKind, 'remote', 'the request started under primary-with-fallback still spills over');

    const error = await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(error.message, 'socket closed');
    assert.equal(fallback.calls, 1, 'the next request, under primary-only, did not reach the fallback');

    r.setStrategy('fallback-only');
    const third = await r.complete({ messages });
    assert.equal(third.entryKind, 'remote');
    assert.equal(primary.calls, 2);
    assert.equal(fallback.calls, 2);
  });
});

describe('RoutingDriver: primary-with-fallback', { timeout: 5000 }, () => {
  it('answers from the primary when it succeeds and never calls the fallback', async () => {
    const primary = local({ queueLength: 2 });
    const fallback = cloud();
    const r = router({ primary, fallback });
    const deltas: string[] = [];
    const response = await r.complete({ messages, maxTokens: 64, temperature: 0, seed: 3, onText: (d) => deltas.push(d) });

    assert.equal(response.text, LOCAL_ANSWER);
    assert.equal(deltas.join(''), LOCAL_ANSWER);
    assert.ok(deltas.length > 1, 'text streamed in pieces');
    assert.equal(response.entryKind, 'local');
    assert.equal(response.entryId, 'local');
    assert.equal(response.model, 'local-model');
    assert.equal(response.stopReason, 'stop');
    assert.equal(response.routeReason, 'local first');
    assert.equal(response.spilledAfter, undefined);
    assert.equal(response.incomplete, undefined);
    assert.equal(fallback.calls, 0);

    const sent = primary.requests[0]!;
    assert.deepEqual(sent.messages, messages);
    assert.equal(sent.maxTokens, 64);
    assert.equal(sent.temperature, 0);
    assert.equal(sent.seed, 3);

    const m = r.metrics();
    assert.equal(m.primarySuccesses, 1);
    assert.equal(m.primaryFailures, 0);
    assert.equal(m.primaryAttempts, 1);
    assert.equal(m.spillovers, 0);
    assert.equal(m.queueLength, 2);
    assert.equal(r.queueLength(), 2);
    assert.equal(r.modelName(), 'local-model');
  });

  for (const kind of RETRYABLE) {
    it(`spills over to the fallback after a retryable ${kind}`, async () => {
      const primary = local({ script: { fail: kind, message: `boom-${kind}` } });
      const fallback = cloud();
      const r = router({ primary, fallback });
      const deltas: string[] = [];
      const response = await r.complete({ messages, onText: (d) => deltas.push(d) });

      assert.equal(response.text, CLOUD_ANSWER);
      assert.equal(deltas.join(''), CLOUD_ANSWER, 'only the fallback text reached the caller');
      assert.equal(response.entryKind, 'remote');
      assert.equal(response.entryId, 'cloud');
      assert.ok(response.routeReason?.includes(`spilled over after ${kind}: boom-${kind}`), `routeReason: ${response.routeReason}`);
      assert.equal(response.spilledAfter?.kind, kind);
      assert.equal(response.spilledAfter?.message, `boom-${kind}`);
      assert.equal(isSpillableKind(response.spilledAfter!.kind), true, 'the router may spill over after it');
      assert.equal(primary.calls, 1);
      assert.equal(fallback.calls, 1);
      assert.deepEqual(fallback.requests[0]!.messages, messages, 'the fallback got the same conversation');

      const m = r.metrics();
      assert.equal(m.spillovers, 1);
      assert.equal(m.primaryFailures, 1);
      assert.equal(m.primarySuccesses, 0);
      assert.equal(m.fallbackSuccesses, 1);
      assert.equal(m.fallbackFailures, 0);
      const spill = m.events.find((e) => e.outcome === 'spillover');
      assert.ok(spill, 'a spillover event was logged');
      assert.equal(spill.kind, kind);
      assert.equal(spill.entryKind, 'local');
      assert.equal(spill.entryId, 'local');
    });
  }

  it('treats a foreign (non-DriverError) throw from the primary as inference_failed and spills over', async () => {
    const primary = local({ script: { throws: new Error('segfault in ggml') } });
    const r = router({ primary, fallback: cloud() });
    const response = await r.complete({ messages });
    assert.equal(response.entryKind, 'remote');
    assert.equal(response.spilledAfter?.kind, 'inference_failed');
    assert.ok(response.routeReason?.includes('spilled over after inference_failed: segfault in ggml'));
  });

  for (const kind of ['auth', 'invalid_request'] as const) {
    it(`returns a non-retryable ${kind} as is, without spilling over`, async () => {
      const primary = local({ script: { fail: kind, message: `nope-${kind}` } });
      const fallback = cloud();
      const r = router({ primary, fallback });
      const error = await rejectsWith(r.complete({ messages }), kind);

      assert.equal(error, primary.thrown[0], 'the very error the primary threw');
      assert.equal(error.message, `nope-${kind}`);
      assert.equal(fallback.calls, 0);
      const m = r.metrics();
      assert.equal(m.spillovers, 0);
      assert.equal(m.primaryFailures, 1);
      assert.equal(m.fallbackSuccesses + m.fallbackFailures, 0);
      assert.equal(m.events.at(-1)?.outcome, 'failure');
      assert.equal(m.events.at(-1)?.kind, kind);
    });
  }

  it('a user abort of a hanging primary never spills over and is not a primary failure', async () => {
    const primary = local({ script: { hang: true } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    const controller = new AbortController();
    const pending = r.complete({ messages, signal: controller.signal });
    await primary.waitForCall();
    controller.abort();
    const response = await pending;

    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, '');
    assert.equal(primary.requests[0]!.signal?.aborted, true, 'the abort reached the primary');
    assert.equal(fallback.calls, 0);
    const m = r.metrics();
    assert.equal(m.primaryFailures, 0);
    assert.equal(m.spillovers, 0);
    assert.equal(m.circuitBreaker.consecutiveFailures, 0);
    assert.equal(m.events.at(-1)?.outcome, 'aborted');
  });

  it('a user abort mid-stream returns the partial text, marked aborted, and never spills over', async () => {
    const primary = local({ script: { reply: 'one two three four', pieces: ['one', ' two', ' three', ' four'] } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    const controller = new AbortController();
    const deltas: string[] = [];
    const response = await r.complete({
      messages,
      signal: controller.signal,
      onText: (d) => {
        deltas.push(d);
        if (deltas.length === 2) controller.abort();
      },
    });
    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, 'one two');
    assert.deepEqual(deltas, ['one', ' two']);
    assert.equal(fallback.calls, 0);
    assert.equal(r.metrics().primaryFailures, 0);
  });

  it('a cancel the primary reports by rejecting with aborted: the error says aborted, no spillover, counted as cancelled', async () => {
    const primary = local({ script: { fail: 'aborted', message: 'The request was cancelled.' } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    await rejectsWith(r.complete({ messages }), 'aborted');
    assert.equal(fallback.calls, 0);
    const m = r.metrics();
    assert.equal(m.cancelled, 1);
    assert.equal(m.primaryFailures, 0);
    assert.equal(m.primarySuccesses, 0);
    assert.equal(m.spillovers, 0);
    assert.equal(m.circuitBreaker.consecutiveFailures, 0);
    assert.equal(m.events.at(-1)?.outcome, 'aborted');
  });

  it('an AbortError thrown by the primary is a cancel, not a failure', async () => {
    const abortError = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    const fallback = cloud();
    const r = router({ primary: local({ script: { throws: abortError } }), fallback });
    await rejectsWith(r.complete({ messages }), 'aborted');
    assert.equal(fallback.calls, 0);
    assert.equal(r.metrics().cancelled, 1);
    assert.equal(r.metrics().primaryFailures, 0);
  });

  // CORE BUG (see report): the real drivers resolve a cancel with stopReason 'aborted'; the router then
  // counts it as a primary success and never as cancelled, unlike a cancel that rejects.
  it('a cancel resolved by the primary counts as cancelled, not as a primary success', async () => {
    const primary = local({ script: { hang: true } });
    const r = router({ primary, fallback: cloud() });
    const controller = new AbortController();
    const pending = r.complete({ messages, signal: controller.signal });
    await primary.waitForCall();
    controller.abort();
    assert.equal((await pending).stopReason, 'aborted');
    const m = r.metrics();
    assert.equal(m.cancelled, 1, 'a user cancel is counted as cancelled');
    assert.equal(m.primarySuccesses, 0, 'a cancelled request is not a successful answer');
    assert.equal(m.primaryFailures, 0);
  });

  it('a cancel resolved by the fallback counts as cancelled, not as a fallback success', async () => {
    const fallback = cloud({ script: { hang: true } });
    const r = router({ primary: local(), fallback, strategy: 'fallback-only' });
    const controller = new AbortController();
    const pending = r.complete({ messages, signal: controller.signal });
    await fallback.waitForCall();
    controller.abort();
    assert.equal((await pending).stopReason, 'aborted');
    const m = r.metrics();
    assert.equal(m.cancelled, 1, 'a user cancel is counted as cancelled');
    assert.equal(m.fallbackSuccesses, 0, 'a cancelled request is not a successful answer');
    assert.equal(m.fallbackFailures, 0);
  });

  it('with no fallback configured, returns the primary error', async () => {
    const primary = local({ script: { fail: 'network', message: 'engine unreachable' } });
    const r = router({ primary, strategy: 'primary-with-fallback' });
    assert.equal(r.getStrategy(), 'local-first');
    const error = await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(error, primary.thrown[0]);
    assert.equal(r.metrics().spillovers, 0);
    assert.equal(r.metrics().primaryFailures, 1);
  });

  it('setFallback(null) removes the fallback: the primary error is returned', async () => {
    const primary = local({ script: { fail: 'inference_failed', message: 'out of memory' } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    r.setFallback(null);
    const error = await rejectsWith(r.complete({ messages }), 'inference_failed');
    assert.equal(error.message, 'out of memory');
    assert.equal(fallback.calls, 0);
  });

  it('setPrimary replaces the primary for the next request', async () => {
    const first = local();
    const second = local({ id: 'local-2', model: 'other-model', script: { reply: 'second' } });
    const r = router({ primary: first, fallback: cloud() });
    r.setPrimary(second);
    const response = await r.complete({ messages });
    assert.equal(response.entryId, 'local-2');
    assert.equal(response.text, 'second');
    assert.equal(first.calls, 0);
    assert.equal(r.modelName(), 'other-model');
  });
});

describe('RoutingDriver: primary-only', { timeout: 5000 }, () => {
  it('returns the primary error without touching the fallback, and records it', async () => {
    const primary = local({ script: { fail: 'inference_failed', message: 'decode failed' } });
    const fallback = cloud();
    const r = router({ primary, fallback, strategy: 'primary-only' });
    const error = await rejectsWith(r.complete({ messages }), 'inference_failed');
    assert.equal(error.message, 'decode failed');
    assert.equal(fallback.calls, 0);
    const m = r.metrics();
    assert.equal(m.primaryFailures, 1);
    assert.equal(m.primaryAttempts, 1);
    assert.equal(m.spillovers, 0);
    assert.equal(m.events.at(-1)?.outcome, 'failure');
    assert.equal(m.events.at(-1)?.kind, 'inference_failed');
  });

  it('answers from the primary with route reason "local only"', async () => {
    const r = router({ primary: local(), fallback: cloud(), strategy: 'primary-only' });
    const response = await r.complete({ messages });
    assert.equal(response.entryKind, 'local');
    assert.equal(response.routeReason, 'local only');
  });
});

describe('RoutingDriver: fallback-only', { timeout: 5000 }, () => {
  it('calls only the fallback', async () => {
    const primary = local();
    const fallback = cloud();
    const r = router({ primary, fallback, strategy: 'fallback-only' });
    const deltas: string[] = [];
    const response = await r.complete({ messages, onText: (d) => deltas.push(d) });
    assert.equal(response.text, CLOUD_ANSWER);
    assert.equal(deltas.join(''), CLOUD_ANSWER);
    assert.equal(response.entryKind, 'remote');
    assert.equal(response.routeReason, 'cloud only');
    assert.equal(response.spilledAfter, undefined);
    assert.equal(primary.calls, 0);
    assert.equal(fallback.calls, 1);
    assert.equal(r.modelName(), 'cloud-model');
    const m = r.metrics();
    assert.equal(m.primaryAttempts, 0);
    assert.equal(m.fallbackSuccesses, 1);
    assert.equal(m.spillovers, 0);
  });

  it('without a fallback fails with no_fallback, saying no cloud endpoint is configured', async () => {
    const primary = local();
    const r = router({ primary, strategy: 'fallback-only' });
    const error = await rejectsWith(r.complete({ messages }), 'no_fallback');
    assert.match(error.message, /no cloud endpoint is configured/);
    assert.equal(error.retryable, false);
    assert.equal(primary.calls, 0);
  });

  it('returns the fallback error as is (no spillover context to add)', async () => {
    const fallback = cloud({ script: { fail: 'auth', message: 'bad key' } });
    const r = router({ primary: local(), fallback, strategy: 'fallback-only' });
    const error = await rejectsWith(r.complete({ messages }), 'auth');
    assert.equal(error, fallback.thrown[0]);
    assert.equal(r.metrics().fallbackFailures, 1);
  });
});

describe('RoutingDriver: fallback failure after a spillover', { timeout: 5000 }, () => {
  it("carries the fallback's kind and mentions the local failure too", async () => {
    const primary = local({ script: { fail: 'model_not_found', message: 'model file missing' } });
    const fallback = cloud({ script: { fail: 'rate_limited', message: 'slow down', retryAfterMs: 5000 } });
    const r = router({ primary, fallback });
    const error = await rejectsWith(r.complete({ messages }), 'rate_limited');
    assert.match(error.message, /slow down/);
    assert.match(error.message, /model file missing/);
    assert.equal(error.retryAfterMs, 5000);
    assert.equal(error.cause, fallback.thrown[0]);
    const m = r.metrics();
    assert.equal(m.spillovers, 1);
    assert.equal(m.fallbackFailures, 1);
    assert.equal(m.fallbackSuccesses, 0);
    assert.equal(m.fallbackSuccessRate, 0);
    assert.equal(m.events.at(-1)?.entryKind, 'remote');
    assert.equal(m.events.at(-1)?.outcome, 'failure');
  });

  it('a fallback that streams then fails returns an incomplete answer', async () => {
    const primary = local({ script: { fail: 'network' } });
    const fallback = cloud({ script: { fail: 'network', message: 'connection reset', afterPieces: ['Blue', ' light'] } });
    const r = router({ primary, fallback });
    const deltas: string[] = [];
    const response = await r.complete({ messages, onText: (d) => deltas.push(d) });
    assert.equal(response.text, 'Blue light');
    assert.equal(deltas.join(''), 'Blue light');
    assert.equal(response.stopReason, 'error');
    assert.equal(response.entryKind, 'remote');
    assert.equal(response.incomplete?.kind, 'network');
    assert.equal(r.metrics().incompleteAnswers, 1);
    assert.equal(r.metrics().fallbackFailures, 1);
  });
});

describe('RoutingDriver: stream-safe fallback', { timeout: 5000 }, () => {
  it('a primary that fails after streaming "Hel" ends the answer there and never continues on the fallback', async () => {
    const primary = local({ script: { fail: 'inference_failed', message: 'KV cache corrupted', afterPieces: ['Hel'] } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    const deltas: string[] = [];
    const response = await r.complete({ messages, onText: (d) => deltas.push(d) });

    assert.equal(response.text, 'Hel');
    assert.equal(deltas.join(''), 'Hel', 'no text from another model reached the caller');
    assert.deepEqual(deltas, ['Hel']);
    assert.equal(response.stopReason, 'error');
    assert.equal(response.entryKind, 'local');
    assert.equal(response.entryId, 'local');
    assert.equal(response.incomplete?.kind, 'inference_failed');
    assert.equal(response.incomplete?.message, 'KV cache corrupted');
    assert.equal(response.spilledAfter, undefined);
    assert.equal(fallback.calls, 0);
    const m = r.metrics();
    assert.equal(m.incompleteAnswers, 1);
    assert.equal(m.spillovers, 0);
    assert.equal(m.primaryFailures, 1);
    assert.equal(m.events.at(-1)?.outcome, 'incomplete');
  });
});

describe('RoutingDriver: timeouts', { timeout: 5000 }, () => {
  it('exports generous defaults', () => {
    assert.ok(DEFAULT_FIRST_TOKEN_TIMEOUT_MS >= 60_000, `first-token default ${DEFAULT_FIRST_TOKEN_TIMEOUT_MS}`);
    assert.ok(DEFAULT_IDLE_TIMEOUT_MS >= 10_000, `idle default ${DEFAULT_IDLE_TIMEOUT_MS}`);
  });

  it('a primary with no first text within firstTokenTimeoutMs is aborted, counted as timeout, and spills over', async () => {
    const primary = local({ script: { hang: true } });
    const fallback = cloud();
    const r = router({ primary, fallback, firstTokenTimeoutMs: 50 });
    const started = performance.now();
    const response = await r.complete({ messages });
    const elapsed = performance.now() - started;

    assert.equal(response.entryKind, 'remote');
    assert.equal(response.text, CLOUD_ANSWER);
    assert.equal(response.spilledAfter?.kind, 'timeout');
    assert.ok(response.routeReason?.startsWith('spilled over after timeout: '), response.routeReason);
    assert.equal(primary.requests[0]!.signal?.aborted, true, "the primary's signal was aborted");
    assert.equal(primary.results[0], 'aborted');
    assert.ok(elapsed >= 45 && elapsed < 2000, `took ${elapsed} ms`);
    const m = r.metrics();
    assert.equal(m.primaryFailures, 1);
    assert.equal(m.spillovers, 1);
    assert.equal(m.circuitBreaker.consecutiveFailures, 1, 'a timeout counts toward the breaker');
    assert.equal(m.cancelled, 0, 'a timeout is not a user cancel');
  });

  it('an idle primary after the first piece ends the answer incomplete with kind timeout (no spillover)', async () => {
    const primary = local({ script: { hang: true, pieces: ['Hel'] } });
    const fallback = cloud();
    const r = router({ primary, fallback, idleTimeoutMs: 50 });
    const deltas: string[] = [];
    const response = await r.complete({ messages, onText: (d) => deltas.push(d) });
    assert.equal(response.text, 'Hel');
    assert.deepEqual(deltas, ['Hel']);
    assert.equal(response.stopReason, 'error');
    assert.equal(response.incomplete?.kind, 'timeout');
    assert.equal(primary.requests[0]!.signal?.aborted, true);
    assert.equal(fallback.calls, 0);
    assert.equal(r.metrics().incompleteAnswers, 1);
  });

  it('0 disables both timeouts: a slow primary succeeds; the same primary with short timeouts does not', async () => {
    const slow = { reply: 'slow answer', pieces: ['slow', ' answer'], ttftDelayMs: 150, delayMs: 150 };
    const primary = local({ script: slow });
    const fallback = cloud();
    const r = router({ primary, fallback, firstTokenTimeoutMs: 0, idleTimeoutMs: 0 });
    const response = await r.complete({ messages });
    assert.equal(response.text, 'slow answer');
    assert.equal(response.entryKind, 'local');
    assert.equal(fallback.calls, 0);

    r.setTimeouts({ firstTokenTimeoutMs: 60 });
    const spilled = await r.complete({ messages });
    assert.equal(spilled.entryKind, 'remote');
    assert.equal(spilled.spilledAfter?.kind, 'timeout');

    r.setTimeouts({ firstTokenTimeoutMs: 0, idleTimeoutMs: 60 });
    const cut = await r.complete({ messages });
    assert.equal(cut.text, 'slow');
    assert.equal(cut.incomplete?.kind, 'timeout');
  });

  it('0 disables the timeouts for good: a silent primary is not aborted even after ten minutes', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const primary = local({ script: { hang: true, pieces: ['Hel'] } });
    const r = router({ primary, fallback: cloud(), firstTokenTimeoutMs: 0, idleTimeoutMs: 0 });
    const controller = new AbortController();
    const pending = r.complete({ messages, signal: controller.signal });
    const sent = await primary.waitForCall();
    t.mock.timers.tick(10 * 60_000);
    assert.equal(sent.signal?.aborted, false);
    controller.abort();
    const response = await pending;
    assert.equal(response.stopReason, 'aborted');
    assert.equal(response.text, 'Hel');
  });

  it('with default options the first-token timeout is DEFAULT_FIRST_TOKEN_TIMEOUT_MS', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const primary = local({ script: { hang: true } });
    const r = router({ primary, fallback: cloud() });
    const pending = r.complete({ messages });
    const sent = await primary.waitForCall();
    t.mock.timers.tick(DEFAULT_FIRST_TOKEN_TIMEOUT_MS - 1);
    assert.equal(sent.signal?.aborted, false, 'not aborted one millisecond early');
    t.mock.timers.tick(1);
    assert.equal(sent.signal?.aborted, true);
    const response = await pending;
    assert.equal(response.spilledAfter?.kind, 'timeout');
  });

  it('with default options the idle timeout is DEFAULT_IDLE_TIMEOUT_MS', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const primary = local({ script: { hang: true, pieces: ['Hel'] } });
    const r = router({ primary, fallback: cloud() });
    const pending = r.complete({ messages });
    const sent = await primary.waitForCall();
    t.mock.timers.tick(DEFAULT_IDLE_TIMEOUT_MS - 1);
    assert.equal(sent.signal?.aborted, false);
    t.mock.timers.tick(1);
    assert.equal(sent.signal?.aborted, true);
    const response = await pending;
    assert.equal(response.incomplete?.kind, 'timeout');
    assert.equal(response.text, 'Hel');
  });
});

describe('RoutingDriver: circuit breaker', { timeout: 5000 }, () => {
  function setup(strategy?: 'primary-only'): { clock: ReturnType<typeof fakeClock>; primary: ScriptedDriver; fallback: ScriptedDriver; r: RoutingDriver } {
    const clock = fakeClock();
    const primary = local({ script: { fail: 'inference_failed', message: 'crashed' } });
    const fallback = cloud();
    const r = router({ primary, fallback, now: clock.now, circuitBreaker: { threshold: 3, cooldownMs: 30_000 }, ...(strategy ? { strategy } : {}) });
    return { clock, primary, fallback, r };
  }

  async function failThrice(r: RoutingDriver): Promise<void> {
    for (let i = 0; i < 3; i++) assert.equal((await r.complete({ messages })).entryKind, 'remote');
  }

  it('opens after 3 consecutive failures: the 4th request skips the primary', async () => {
    const { clock, primary, fallback, r } = setup();
    await failThrice(r);
    assert.equal(primary.calls, 3);
    assert.equal(r.metrics().circuitBreaker.state, 'open');

    const response = await r.complete({ messages });
    assert.equal(primary.calls, 3, 'the primary was skipped');
    assert.equal(fallback.calls, 4);
    assert.equal(response.entryKind, 'remote');
    assert.match(response.routeReason ?? '', /circuit_open/);
    assert.equal(response.spilledAfter, undefined);

    const m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'open');
    assert.equal(m.circuitBreaker.skipped, 1);
    assert.equal(m.circuitBreaker.consecutiveFailures, 3);
    assert.equal(m.circuitBreaker.threshold, 3);
    assert.equal(m.circuitBreaker.cooldownMs, 30_000);
    assert.equal(m.circuitBreaker.retryAt, clock.now() + 30_000);
    assert.equal(m.primaryFailures, 3);
    assert.equal(m.spillovers, 3, 'a skip is not a spillover');
    const skip = m.events.find((e) => e.outcome === 'skipped');
    assert.equal(skip?.kind, 'circuit_open');
    assert.equal(skip?.entryKind, 'local');
  });

  it('after the cooldown one probe reaches the primary; success closes the circuit', async () => {
    const { clock, primary, r } = setup();
    await failThrice(r);
    clock.advance(29_999);
    await r.complete({ messages });
    assert.equal(primary.calls, 3, 'still skipped just before the cooldown ends');

    clock.advance(2);
    assert.equal(r.metrics().circuitBreaker.state, 'half-open');
    assert.equal(r.metrics().circuitBreaker.retryAt, null);
    primary.setScript({ reply: 'back again' });
    const probe = await r.complete({ messages });
    assert.equal(primary.calls, 4);
    assert.equal(probe.entryKind, 'local');
    assert.equal(probe.text, 'back again');
    assert.match(probe.routeReason ?? '', /probe/);
    const m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'closed');
    assert.equal(m.circuitBreaker.consecutiveFailures, 0);

    await r.complete({ messages });
    assert.equal(primary.calls, 5, 'closed: the primary is used again');
  });

  it('a failed probe reopens the circuit for another cooldown', async () => {
    const { clock, primary, fallback, r } = setup();
    await failThrice(r);
    clock.advance(30_000);
    const probe = await r.complete({ messages });
    assert.equal(primary.calls, 4, 'the probe reached the primary');
    assert.equal(probe.entryKind, 'remote');
    assert.equal(probe.spilledAfter?.kind, 'inference_failed');
    const m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'open');
    assert.equal(m.circuitBreaker.retryAt, clock.now() + 30_000);

    await r.complete({ messages });
    assert.equal(primary.calls, 4, 'skipped again');
    assert.equal(fallback.calls, 5);
  });

  it('requests arriving while a probe is in flight go to the fallback', async () => {
    const { clock, primary, fallback, r } = setup();
    await failThrice(r);
    clock.advance(30_000);
    const open = gate();
    primary.setScript({ reply: 'probe answer', until: open.promise });

    const probe = r.complete({ messages });
    const concurrent1 = await r.complete({ messages });
    const concurrent2 = await r.complete({ messages });
    assert.equal(concurrent1.entryKind, 'remote');
    assert.equal(concurrent2.entryKind, 'remote');
    assert.equal(primary.calls, 4, 'only the probe reached the primary');
    assert.equal(fallback.calls, 5);
    assert.equal(r.metrics().circuitBreaker.state, 'half-open');

    open.open();
    const answered = await probe;
    assert.equal(answered.entryKind, 'local');
    assert.equal(r.metrics().circuitBreaker.state, 'closed');
  });

  it('a probe cancelled by the user lets the next request probe', async () => {
    const { clock, primary, r } = setup();
    await failThrice(r);
    clock.advance(30_000);
    primary.setScript({ hang: true });
    const controller = new AbortController();
    const probe = r.complete({ messages, signal: controller.signal });
    await primary.waitForCall(4);
    controller.abort();
    assert.equal((await probe).stopReason, 'aborted');

    primary.setScript({ reply: 'healthy' });
    const next = await r.complete({ messages });
    assert.equal(primary.calls, 5, 'the next request probed the primary instead of skipping it');
    assert.equal(next.entryKind, 'local');
    assert.equal(r.metrics().circuitBreaker.state, 'closed');
  });

  for (const kind of ['rate_limited', 'context_overflow', 'auth'] as const) {
    it(`a probe that fails with ${kind} (no verdict on health) lets the next request probe again`, async () => {
      const { clock, primary, r } = setup();
      await failThrice(r);
      clock.advance(30_000);
      primary.setScript({ fail: kind });
      if (kind === 'auth') await rejectsWith(r.complete({ messages }), 'auth');
      else assert.equal((await r.complete({ messages })).entryKind, 'remote');
      assert.equal(primary.calls, 4, 'the probe reached the primary');
      assert.equal(r.metrics().circuitBreaker.state, 'half-open');

      primary.setScript({ reply: 'healthy' });
      const next = await r.complete({ messages });
      assert.equal(primary.calls, 5, 'the next request probed instead of being skipped');
      assert.equal(next.entryKind, 'local');
      assert.equal(r.metrics().circuitBreaker.state, 'closed');
    });
  }

  it('a success in between resets the consecutive count', async () => {
    const { primary, r } = setup();
    primary.setScript([
      { fail: 'network' },
      { fail: 'network' },
      { reply: 'ok' },
      { fail: 'network' },
      { fail: 'network' },
      { reply: 'still here' },
    ]);
    for (let i = 0; i < 5; i++) await r.complete({ messages });
    const m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'closed');
    assert.equal(m.circuitBreaker.consecutiveFailures, 2);
    const sixth = await r.complete({ messages });
    assert.equal(sixth.entryKind, 'local');
    assert.equal(primary.calls, 6);
  });

  it('context_overflow and rate_limited failures do not count toward the breaker', async () => {
    const { primary, r } = setup();
    primary.setScript([
      { fail: 'inference_failed' },
      { fail: 'timeout' },
      { fail: 'rate_limited' },
      { fail: 'context_overflow' },
      { fail: 'rate_limited' },
      { fail: 'context_overflow' },
      { fail: 'model_not_found' },
    ]);
    for (let i = 0; i < 6; i++) await r.complete({ messages });
    let m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'closed');
    assert.equal(m.circuitBreaker.consecutiveFailures, 2);
    assert.equal(primary.calls, 6);
    assert.equal(m.spillovers, 6);

    await r.complete({ messages });
    m = r.metrics();
    assert.equal(m.circuitBreaker.state, 'open', 'the third health failure opens it');
    await r.complete({ messages });
    assert.equal(primary.calls, 7);
  });

  it('user cancels do not count toward the breaker', async () => {
    const { primary, r } = setup();
    primary.setScript({ hang: true });
    for (let i = 1; i <= 4; i++) {
      const controller = new AbortController();
      const pending = r.complete({ messages, signal: controller.signal });
      await primary.waitForCall(i);
      controller.abort();
      await pending;
    }
    assert.equal(primary.calls, 4);
    assert.equal(r.metrics().circuitBreaker.state, 'closed');
  });

  it('under primary-only the breaker never skips the primary', async () => {
    const { primary, fallback, r } = setup('primary-only');
    for (let i = 0; i < 6; i++) await rejectsWith(r.complete({ messages }), 'inference_failed');
    assert.equal(primary.calls, 6);
    assert.equal(fallback.calls, 0);
    assert.equal(r.metrics().circuitBreaker.skipped, 0);
  });

  it('setCircuitBreaker changes the threshold at run time', async () => {
    const { primary, r } = setup();
    r.setCircuitBreaker({ threshold: 1 });
    await r.complete({ messages });
    assert.equal(r.metrics().circuitBreaker.state, 'open');
    await r.complete({ messages });
    assert.equal(primary.calls, 1);
  });
});

describe('RoutingDriver: privacy lock', { timeout: 5000 }, () => {
  it("lock 'sovereign' with a standard fallback: a primary failure is privacy_blocked and nothing reaches the fallback", async () => {
    const primary = local({ script: { fail: 'inference_failed', message: 'out of memory' } });
    const fallback = cloud();
    const r = router({ primary, fallback, privacyLock: 'sovereign' });
    const error = await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    assert.match(error.message, /out of memory/);
    assert.equal(fallback.calls, 0);
    const m = r.metrics();
    assert.equal(m.privacyBlocks, 1);
    assert.equal(m.ceiling, 'sovereign');
    assert.equal(m.spillovers, 0);
    assert.equal(m.events.at(-1)?.outcome, 'blocked');
    assert.equal(m.events.at(-1)?.kind, 'privacy_blocked');
  });

  it("lock 'sovereign' still lets a sovereign primary answer", async () => {
    const fallback = cloud();
    const r = router({ primary: local(), fallback, privacyLock: 'sovereign' });
    assert.equal((await r.complete({ messages })).entryKind, 'local');
    assert.equal(r.metrics().privacyBlocks, 0);
  });

  it("fallback-only with lock 'sovereign' and a standard fallback is privacy_blocked; nothing is sent", async () => {
    const primary = local();
    const fallback = cloud();
    const r = router({ primary, fallback, strategy: 'fallback-only', privacyLock: 'sovereign' });
    await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    assert.equal(fallback.calls, 0);
    assert.equal(primary.calls, 0);
    assert.equal(r.metrics().privacyBlocks, 1);
  });

  it("a 'private' fallback under lock 'private' is allowed", async () => {
    const primary = local({ script: { fail: 'network' } });
    const fallback = cloud({ privacyTier: 'private' });
    const r = router({ primary, fallback, privacyLock: 'private' });
    const response = await r.complete({ messages });
    assert.equal(response.entryKind, 'remote');
    assert.equal(fallback.calls, 1);
    assert.equal(r.metrics().privacyBlocks, 0);
  });

  it('setPrivacyLock(null) removes the lock', async () => {
    const primary = local({ script: { fail: 'network' } });
    const fallback = cloud();
    const r = router({ primary, fallback });
    r.setPrivacyLock('sovereign');
    assert.equal(r.getPrivacyLock(), 'sovereign');
    await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    r.setPrivacyLock(null);
    assert.equal(r.getPrivacyLock(), null);
    const response = await r.complete({ messages });
    assert.equal(response.entryKind, 'remote');
    assert.equal(fallback.calls, 1);
    assert.equal(r.metrics().ceiling, 'standard', 'no lock is the ceiling "anywhere"');
  });

  it('with the fallback locked out an open circuit does not skip the primary (nowhere else to go)', async () => {
    const clock = fakeClock();
    const primary = local({ script: { fail: 'network' } });
    const r = router({ primary, fallback: cloud(), privacyLock: 'sovereign', now: clock.now, circuitBreaker: { threshold: 1, cooldownMs: 30_000 } });
    await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    assert.equal(primary.calls, 2);
  });
});

describe('RoutingDriver: pre-flight context check', { timeout: 5000 }, () => {
  // 'x'.repeat(150) with one token per character: the prompt needs 150 tokens.
  const long: ChatMessage[] = [{ role: 'user', content: 'x'.repeat(150) }];

  it('spills over without calling the primary when the prompt does not fit but the fallback window does', async () => {
    const primary = local({ contextWindow: 100, tokensPerMessageChar: 1 });
    const fallback = cloud({ contextWindow: 1000 });
    const r = router({ primary, fallback });
    const response = await r.complete({ messages: long, maxTokens: 20 });
    assert.equal(primary.calls, 0, 'primary.complete never called');
    assert.equal(primary.countTokensCalls.length, 1);
    assert.equal(fallback.calls, 1);
    assert.equal(response.entryKind, 'remote');
    assert.equal(response.spilledAfter?.kind, 'context_overflow');
    assert.ok(response.routeReason?.startsWith('spilled over after context_overflow: '));
    assert.equal(r.metrics().spillovers, 1);
    assert.equal(r.metrics().circuitBreaker.consecutiveFailures, 0, 'an overflow says nothing about health');
  });

  it('fails with context_overflow, calling neither driver, when the fallback window does not fit either', async () => {
    const primary = local({ contextWindow: 100, tokensPerMessageChar: 1 });
    const fallback = cloud({ contextWindow: 160 });
    const r = router({ primary, fallback });
    const error = await rejectsWith(r.complete({ messages: long, maxTokens: 20 }), 'context_overflow');
    assert.equal(primary.calls, 0);
    assert.equal(fallback.calls, 0);
    assert.match(error.message, /150/);
    assert.match(error.message, /160/, 'the message names the cloud window too');
    assert.equal(r.metrics().spillovers, 0);
  });

  it('under primary-only, fails with context_overflow naming the token numbers', async () => {
    const primary = local({ contextWindow: 100, tokensPerMessageChar: 1 });
    const r = router({ primary });
    const error = await rejectsWith(r.complete({ messages: long, maxTokens: 20 }), 'context_overflow');
    assert.equal(primary.calls, 0);
    assert.match(error.message, /\b150\b/);
    assert.match(error.message, /\b20\b/);
    assert.match(error.message, /\b100\b/);
  });

  it('lets a prompt that fits exactly through to the primary', async () => {
    const primary = local({ contextWindow: 170, tokensPerMessageChar: 1 });
    const r = router({ primary, fallback: cloud() });
    const response = await r.complete({ messages: long, maxTokens: 20 });
    assert.equal(response.entryKind, 'local');
    assert.equal(primary.calls, 1);
  });

  it('uses a countTokens function (async) when given one', async () => {
    const primary = local({ contextWindow: 4096, countTokens: async () => 5000 });
    const fallback = cloud();
    const r = router({ primary, fallback });
    const response = await r.complete({ messages });
    assert.equal(primary.calls, 0);
    assert.equal(response.spilledAfter?.kind, 'context_overflow');
  });

  it('skips the check when the primary cannot count tokens', async () => {
    const primary = local({ contextWindow: 10 });
    assert.equal(primary.countTokens, undefined);
    const r = router({ primary, fallback: cloud() });
    const response = await r.complete({ messages: long, maxTokens: 20 });
    assert.equal(response.entryKind, 'local');
  });
});

describe('RoutingDriver: contextWindow and privacyTier', { timeout: 5000 }, () => {
  it("contextWindow is the fallback's under fallback-only, else the primary's", () => {
    const r = router({ primary: local({ contextWindow: 4096 }), fallback: cloud({ contextWindow: 128_000 }) });
    assert.equal(r.contextWindow(), 4096);
    r.setStrategy('primary-only');
    assert.equal(r.contextWindow(), 4096);
    r.setStrategy('fallback-only');
    assert.equal(r.contextWindow(), 128_000);
  });

  it("contextWindow is the primary's under fallback-only with no fallback", () => {
    const r = router({ primary: local({ contextWindow: 2048 }), strategy: 'fallback-only' });
    assert.equal(r.contextWindow(), 2048);
  });

  it('privacyTier is the most permissive tier the strategy may use', () => {
    const standard = router({ primary: local(), fallback: cloud({ privacyTier: 'standard' }) });
    assert.equal(standard.privacyTier(), 'standard');
    assert.equal(standard.metrics().privacyTier, 'standard');
    const priv = router({ primary: local(), fallback: cloud({ privacyTier: 'private' }) });
    assert.equal(priv.privacyTier(), 'private');
    assert.equal(router({ primary: local() }).privacyTier(), 'sovereign');
  });

  it("primary-only reports the primary's tier alone; fallback-only the fallback's", () => {
    const r = router({ primary: local(), fallback: cloud(), strategy: 'primary-only' });
    assert.equal(r.privacyTier(), 'sovereign');
    r.setStrategy('fallback-only');
    assert.equal(r.privacyTier(), 'standard');
    const privateFallback = router({ primary: local({ privacyTier: 'standard' }), fallback: cloud({ privacyTier: 'private' }), strategy: 'fallback-only' });
    assert.equal(privateFallback.privacyTier(), 'private');
  });

  it('the privacy lock caps the tier', () => {
    const r = router({ primary: local(), fallback: cloud() });
    r.setPrivacyLock('private');
    assert.equal(r.privacyTier(), 'private');
    r.setPrivacyLock('sovereign');
    assert.equal(r.privacyTier(), 'sovereign');
    r.setPrivacyLock('standard');
    assert.equal(r.privacyTier(), 'standard');
    r.setStrategy('primary-only');
    assert.equal(r.privacyTier(), 'sovereign', 'a lock never raises the tier');
  });
});

describe('RoutingDriver: metrics', { timeout: 5000 }, () => {
  it('is plain JSON data and primaryAttempts = successes + failures', async () => {
    const clock = fakeClock();
    const primary = local({ queueLength: 1 });
    const fallback = cloud();
    const r = router({ primary, fallback, now: clock.now, circuitBreaker: { threshold: 2, cooldownMs: 1000 } });
    await r.complete({ messages }); // success
    primary.setScript([{ fail: 'inference_failed', afterPieces: ['Hel'] }, { fail: 'network' }, { fail: 'auth' }, { fail: 'network' }]);
    assert.equal((await r.complete({ messages })).stopReason, 'error'); // incomplete (health failure 1)
    assert.equal((await r.complete({ messages })).entryKind, 'remote'); // spillover (health failure 2: opens)
    assert.equal((await r.complete({ messages })).entryKind, 'remote'); // skipped by the open circuit
    clock.advance(1000);
    await rejectsWith(r.complete({ messages }), 'auth'); // the probe: non-retryable, returned as is
    r.setPrivacyLock('sovereign');
    await rejectsWith(r.complete({ messages }), 'privacy_blocked'); // network failure, fallback locked out
    assert.equal(primary.calls, 5);

    const m = r.metrics();
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
    assert.equal(m.primaryAttempts, m.primarySuccesses + m.primaryFailures);
    assert.equal(m.primarySuccesses, 1);
    assert.equal(m.primaryFailures, 4);
    assert.equal(m.primaryAttempts, 5);
    assert.equal(m.incompleteAnswers, 1);
    assert.equal(m.spillovers, 1);
    assert.equal(m.fallbackSuccesses, 2);
    assert.equal(m.privacyBlocks, 1);
    assert.equal(m.queueLength, 1);
    assert.deepEqual(
      m.events.map((e) => e.outcome),
      ['success', 'incomplete', 'spillover', 'success', 'skipped', 'success', 'failure', 'blocked'],
    );
    assert.equal(m.circuitBreaker.skipped, 1);
  });

  it('fallbackSuccessRate is 0 before any fallback try, 0.5 after one success and one failure', async () => {
    const primary = local({ script: { fail: 'network' } });
    const fallback = cloud({ script: [{ reply: 'fine' }, { fail: 'network' }] });
    const r = router({ primary, fallback });
    assert.equal(r.metrics().fallbackSuccessRate, 0);
    await r.complete({ messages });
    assert.equal(r.metrics().fallbackSuccessRate, 1);
    await rejectsWith(r.complete({ messages }), 'network');
    const m = r.metrics();
    assert.equal(m.fallbackSuccessRate, 0.5);
    assert.equal(m.fallbackSuccesses, 1);
    assert.equal(m.fallbackFailures, 1);
  });

  it('keeps the last 100 events, each with time, driver, outcome and reason', async () => {
    const clock = fakeClock(0);
    const r = router({ primary: local({ script: { reply: 'ok', pieces: ['ok'] } }), fallback: cloud(), now: clock.now });
    for (let i = 0; i < 120; i++) {
      clock.set(i);
      await r.complete({ messages });
    }
    const { events } = r.metrics();
    assert.equal(events.length, 100);
    assert.equal(events[0]!.at, 20, 'the oldest events were dropped');
    assert.equal(events.at(-1)!.at, 119);
    for (const event of events) {
      assert.equal(typeof event.at, 'number');
      assert.equal(event.entryId, 'local');
      assert.equal(event.entryKind, 'local');
      assert.equal(event.outcome, 'success');
      assert.equal(event.reason, 'local first');
      assert.ok(typeof event.latencyMs === 'number' && event.latencyMs >= 0);
    }
    // The snapshot is a copy: mutating it does not change the router's log.
    events[0]!.outcome = 'failure';
    assert.equal(r.metrics().events[0]!.outcome, 'success');
  });

  it('tracks latency per driver id: count, p50 and p95 of TTFT, total time and tokens per second', async () => {
    const primary = local({ script: [{ reply: 'a b c', pieces: ['a', ' b', ' c'], ttftDelayMs: 5, delayMs: 5 }, { fail: 'network' }] });
    const fallback = cloud({ script: { reply: 'x y', pieces: ['x', ' y'], delayMs: 3 } });
    const r = router({ primary, fallback });
    await r.complete({ messages });
    await r.complete({ messages });

    const { latency } = r.metrics();
    assert.deepEqual(Object.keys(latency).sort(), ['cloud', 'local']);
    const l = latency.local!;
    for (const dist of [l.timeToFirstTokenMs, l.totalMs, l.tokensPerSecond]) {
      assert.equal(dist.count, 1);
      assert.ok(dist.p50 !== null && dist.p50 > 0, `p50 ${dist.p50}`);
      assert.equal(dist.p95, dist.p50, 'one sample: p50 = p95');
    }
    assert.ok(l.timeToFirstTokenMs.p50! >= 4, 'TTFT includes the 5 ms first-token delay');
    assert.ok(l.totalMs.p50! >= l.timeToFirstTokenMs.p50!);
    // Two tokens after the first over ~10 ms: far more than 0, far less than a million per second.
    assert.ok(l.tokensPerSecond.p50! > 1 && l.tokensPerSecond.p50! < 1e6);
    assert.equal(latency.cloud!.totalMs.count, 1);
  });

  it('does not record latency for an aborted answer', async () => {
    const primary = local({ script: { hang: true } });
    const r = router({ primary, fallback: cloud() });
    const controller = new AbortController();
    const pending = r.complete({ messages, signal: controller.signal });
    await primary.waitForCall();
    controller.abort();
    await pending;
    assert.deepEqual(r.metrics().latency, {});
  });

  it('onMetricsChange fires after a request and on settings changes; unsubscribe stops it', async () => {
    const r = router({ primary: local(), fallback: cloud() });
    let calls = 0;
    const unsubscribe = r.onMetricsChange(() => calls++);
    await r.complete({ messages });
    assert.ok(calls >= 1, 'fired after a request');
    const afterRequest = calls;
    r.setStrategy('primary-only');
    assert.ok(calls > afterRequest, 'fired after setStrategy');
    const afterStrategy = calls;
    r.setPrivacyLock('sovereign');
    assert.ok(calls > afterStrategy, 'fired after setPrivacyLock');

    unsubscribe();
    const before = calls;
    await r.complete({ messages });
    r.setStrategy('primary-with-fallback');
    assert.equal(calls, before);
  });

  it('a listener sees the counters already updated', async () => {
    const r = router({ primary: local(), fallback: cloud() });
    const seen: number[] = [];
    r.onMetricsChange(() => seen.push(r.metrics().primarySuccesses));
    await r.complete({ messages });
    assert.equal(seen.at(-1), 1);
  });
});

describe('DeltaBatcher', { timeout: 5000 }, () => {
  it('emits the first piece at once and coalesces later ones for intervalMs', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const out: string[] = [];
    const batcher = new DeltaBatcher((text) => out.push(text), 8);
    batcher.push('Hel');
    assert.deepEqual(out, ['Hel'], 'first piece immediately');
    batcher.push('lo');
    batcher.push(', ');
    batcher.push('world');
    assert.deepEqual(out, ['Hel']);
    t.mock.timers.tick(7);
    assert.deepEqual(out, ['Hel']);
    t.mock.timers.tick(1);
    assert.deepEqual(out, ['Hel', 'lo, world']);
    batcher.push('!');
    t.mock.timers.tick(8);
    assert.deepEqual(out, ['Hel', 'lo, world', '!']);
  });

  it('flush emits what is pending at once and cancels the timer', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const out: string[] = [];
    const batcher = new DeltaBatcher((text) => out.push(text));
    batcher.push('a');
    batcher.push('b');
    batcher.push('c');
    batcher.flush();
    assert.deepEqual(out, ['a', 'bc']);
    t.mock.timers.tick(100);
    assert.deepEqual(out, ['a', 'bc'], 'nothing emitted twice');
    batcher.flush();
    assert.deepEqual(out, ['a', 'bc'], 'flushing nothing emits nothing');
  });

  it('ignores empty pieces', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const out: string[] = [];
    const batcher = new DeltaBatcher((text) => out.push(text));
    batcher.push('');
    assert.deepEqual(out, []);
    batcher.push('x');
    batcher.push('');
    t.mock.timers.tick(100);
    batcher.flush();
    assert.deepEqual(out, ['x']);
  });

  it('loses and duplicates nothing across 1000 pushes with timers firing in between', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const out: string[] = [];
    const batcher = new DeltaBatcher((text) => out.push(text), 8);
    const pieces: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const piece = `<${i}>`;
      pieces.push(piece);
      batcher.push(piece);
      if (i % 7 === 0) t.mock.timers.tick(3);
      if (i % 97 === 0) batcher.flush();
    }
    batcher.flush();
    assert.equal(out.join(''), pieces.join(''));
    assert.ok(out.every((text) => text !== ''), 'no empty emissions');
    assert.ok(out.length < 1000 && out.length > 1, `coalesced into ${out.length} emissions`);
  });
});

describe('privacy helpers', { timeout: 5000 }, () => {
  it('mostPermissive picks standard > private > sovereign, sovereign when empty', () => {
    assert.equal(mostPermissive([]), 'sovereign');
    assert.equal(mostPermissive(['sovereign']), 'sovereign');
    assert.equal(mostPermissive(['sovereign', 'private']), 'private');
    assert.equal(mostPermissive(['private', 'standard', 'sovereign']), 'standard');
  });

  it('mostRestrictive picks the more restrictive of two tiers', () => {
    for (const a of PRIVACY_TIERS) {
      for (const b of PRIVACY_TIERS) {
        const expected = PRIVACY_TIERS[Math.min(PRIVACY_TIERS.indexOf(a), PRIVACY_TIERS.indexOf(b))];
        assert.equal(mostRestrictive(a, b), expected, `${a} vs ${b}`);
      }
    }
  });

  it('tierAllowed: no lock allows everything; a lock allows its tier and more restrictive ones', () => {
    const table: Array<[PrivacyTier, PrivacyTier | null, boolean]> = [
      ['standard', null, true],
      ['sovereign', 'sovereign', true],
      ['private', 'sovereign', false],
      ['standard', 'sovereign', false],
      ['sovereign', 'private', true],
      ['private', 'private', true],
      ['standard', 'private', false],
      ['standard', 'standard', true],
    ];
    for (const [tier, lock, allowed] of table) assert.equal(tierAllowed(tier, lock), allowed, `${tier} under ${lock}`);
  });

  it('describeTier gives a distinct plain-words description for each tier', () => {
    const texts = PRIVACY_TIERS.map(describeTier);
    assert.equal(new Set(texts).size, 3);
    assert.match(describeTier('sovereign'), /computer/);
    assert.match(describeTier('standard'), /internet/);
  });
});

describe('ScriptedDriver fixture', { timeout: 5000 }, () => {
  it('resolves with the partial text and stop reason aborted when its signal aborts', async () => {
    const driver = new ScriptedDriver({ script: { hang: true, pieces: ['par', 'tial'] } });
    const controller = new AbortController();
    const pending = driver.complete({ messages, signal: controller.signal });
    await driver.waitForCall();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const response: CompletionResponse = await pending;
    assert.equal(response.text, 'partial');
    assert.equal(response.stopReason, 'aborted');
    assert.deepEqual(driver.results, ['aborted']);
  });

  it('has countTokens and queueLength only when configured, and repeats the last scripted behaviour', async () => {
    const plain = new ScriptedDriver();
    assert.equal(plain.countTokens, undefined);
    assert.equal(plain.queueLength, undefined);
    const counting = new ScriptedDriver({ tokensPerMessageChar: 0.5, queueLength: 3, script: [{ reply: 'one' }, { reply: 'two' }] });
    assert.equal(await counting.countTokens?.([{ role: 'user', content: 'abcd' }]), 2);
    assert.equal(counting.queueLength?.(), 3);
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push((await counting.complete({ messages })).text);
    assert.deepEqual(texts, ['one', 'two', 'two']);
    assert.equal(counting.calls, 3);
  });
});

describe('onRoute', () => {
  it('tells the caller which driver gets the request before that driver streams', async () => {
    const primary = local({ script: { fail: 'inference_failed' } });
    const fallback = cloud({ script: { reply: 'from the cloud', pieces: ['from ', 'the cloud'] } });
    const router = new RoutingDriver({ primary, fallback });
    const seen: string[] = [];
    await router.complete({
      messages: [{ role: 'user', content: 'hi' }],
      onRoute: (r) => seen.push(`route:${r.entryKind}:${r.entryId}:${r.model}`),
      onText: (t) => seen.push(`text:${t}`),
    });
    assert.deepEqual(seen, ['route:local:local:local-model', 'route:remote:cloud:cloud-model', 'text:from ', 'text:the cloud']);
  });

  it('under cloud only, only the fallback is announced', async () => {
    const router = new RoutingDriver({ primary: local(), fallback: cloud(), strategy: 'fallback-only' });
    const roles: string[] = [];
    await router.complete({ messages: [{ role: 'user', content: 'hi' }], onRoute: (r) => roles.push(r.entryKind) });
    assert.deepEqual(roles, ['remote']);
  });
});
