/**
 * The rebuilt routing core with routes of three entries: the local engine, a LAN server (private) and a
 * cloud endpoint (standard). Covers the strategies, spillover rules, a deadline on every step (including a
 * driver that never settles), per-entry metrics and circuit breakers, the privacy ceiling, capability and
 * context routing, the consent and egress hooks, and the plan. The two-driver cases live in router.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsentChoice, EntryMetrics } from '../../electron/contract/index.js';
import type { ConsentAsk, ConsentHook, EgressRecord, EgressRecorder, EgressResult } from '../../electron/core/egress.js';
import { DriverError, SPILLABLE_KINDS } from '../../electron/core/errors.js';
import { canonicalStrategy, type StrategyName } from '../../electron/core/route.js';
import { RoutingDriver, type RouteOptions, type RoutingDriverOptions } from '../../electron/core/router.js';
import type {
  ChatMessage,
  CompletionRequest,
  CompletionResponse,
  DriverErrorKind,
  LlmDriver,
  PrivacyTier,
} from '../../electron/core/types.js';
import { rejectsWith } from '../fixtures/assertions.js';
import { gate, ScriptedDriver, sleep, type ScriptedDriverOptions } from '../fixtures/scripted-driver.js';

// ------------------------------------------------------------------------------------------------ helpers

const messages: ChatMessage[] = [{ role: 'user', content: 'Why is the sky blue?' }];
const imageMessages: ChatMessage[] = [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image', url: 'data:image/png;base64,AAAA' }] }];
/** 150 characters: 150 tokens at one token per character. */
const longMessages: ChatMessage[] = [{ role: 'user', content: 'x'.repeat(150) }];

/** The deadlines the fault-injection tests use, and the slack a noisy machine gets on top. */
const LOAD_MS = 150;
const FIRST_MS = 150;
const IDLE_MS = 150;
const CLOUD_MS = 150;
const MARGIN_MS = 500;
const DEADLINES = { loadTimeoutMs: LOAD_MS, firstTokenTimeoutMs: FIRST_MS, idleTimeoutMs: IDLE_MS, cloudTimeoutMs: CLOUD_MS };

interface SetupOptions {
  local?: ScriptedDriverOptions;
  lan?: ScriptedDriverOptions;
  cloud?: ScriptedDriverOptions;
  router?: Omit<RoutingDriverOptions, 'route'>;
}

interface Setup {
  local: ScriptedDriver;
  lan: ScriptedDriver;
  cloud: ScriptedDriver;
  r: RoutingDriver;
}

function localDriver(options: ScriptedDriverOptions = {}): ScriptedDriver {
  return new ScriptedDriver({ id: 'local', model: 'local-model', privacyTier: 'sovereign', contextWindow: 4096, script: { reply: 'from local' }, ...options });
}

function lanDriver(options: ScriptedDriverOptions = {}): ScriptedDriver {
  return new ScriptedDriver({ id: 'lan', name: 'Home server', model: 'lan-model', host: '192.168.1.20:8080', privacyTier: 'private', contextWindow: 8192, script: { reply: 'from lan' }, ...options });
}

function cloudDriver(options: ScriptedDriverOptions = {}): ScriptedDriver {
  return new ScriptedDriver({ id: 'cloud', name: 'Example Cloud', model: 'cloud-model', host: 'api.example.com', privacyTier: 'standard', contextWindow: 128_000, script: { reply: 'from cloud' }, ...options });
}

/** local → lan → cloud, as the settings build it. */
function setup(options: SetupOptions = {}): Setup {
  const local = localDriver(options.local);
  const lan = lanDriver(options.lan);
  const cloud = cloudDriver(options.cloud);
  const r = new RoutingDriver({ route: [{ driver: local, kind: 'local' }, { driver: lan, kind: 'remote' }, { driver: cloud, kind: 'remote' }], ...options.router });
  return { local, lan, cloud, r };
}

/** Routes `request` and notes which entries it was handed to, when its first text came and how long it took. */
async function traced(r: RoutingDriver, request: CompletionRequest, options: RouteOptions = {}): Promise<{ response: CompletionResponse; seen: string[]; firstTextMs: number | null; ms: number }> {
  const seen: string[] = [];
  const started = performance.now();
  let firstTextMs: number | null = null;
  const response = await r.routeRequest(
    { ...request, onRoute: (a) => seen.push(a.entryId), onText: () => (firstTextMs ??= performance.now() - started) },
    options,
  );
  return { response, seen, firstTextMs, ms: performance.now() - started };
}

function entry(r: RoutingDriver, id: string): EntryMetrics {
  const found = r.metrics().entries.find((e) => e.id === id);
  assert.ok(found, `no metrics for entry ${id}`);
  return found;
}

function within(ms: number, limit: number, what: string): void {
  assert.ok(ms < limit, `${what} took ${Math.round(ms)} ms, over the ${limit} ms allowed`);
}

function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

type Step = 'load' | 'count' | 'first-token' | 'idle';

/**
 * A driver stuck at one step that ignores its abort signal entirely: prepare, countTokens or complete
 * returns a promise that never settles (for `idle`, after streaming "partial").
 */
class StuckDriver implements LlmDriver {
  calls = 0;
  prepare?: (signal: AbortSignal) => Promise<void>;
  countTokens?: (messages: ChatMessage[], signal?: AbortSignal) => Promise<number>;
  endpointHost?: () => string | null;

  constructor(
    readonly id: string,
    private readonly step: Step,
    private readonly tier: PrivacyTier = 'sovereign',
  ) {
    if (step === 'load') this.prepare = () => new Promise<void>(() => {});
    if (step === 'count') this.countTokens = () => new Promise<number>(() => {});
    if (tier !== 'sovereign') this.endpointHost = () => `${id}.example.net`;
  }

  modelName(): string {
    return `${this.id}-model`;
  }
  contextWindow(): number {
    return 4096;
  }
  privacyTier(): PrivacyTier {
    return this.tier;
  }
  complete(request: CompletionRequest): Promise<CompletionResponse> {
    this.calls++;
    if (this.step === 'idle') request.onText?.('partial');
    return new Promise<CompletionResponse>(() => {});
  }
}

/** A consent hook that notes each ask and answers `choice` once `open` is called (at once when `held` is false). */
function consent(choice: ConsentChoice, held = false): { hook: ConsentHook; asks: ConsentAsk[]; asked: Promise<void>; open: () => void } {
  const asks: ConsentAsk[] = [];
  const release = gate();
  if (!held) release.open();
  let notify!: () => void;
  const asked = new Promise<void>((resolve) => (notify = resolve));
  const hook: ConsentHook = async (ask) => {
    asks.push(ask);
    notify();
    await release.promise;
    return choice;
  };
  return { hook, asks, asked, open: release.open };
}

/** An egress recorder keeping every record and, per record, every end() call. */
function recorder(options: { fail?: Error; onBegin?: (record: EgressRecord) => void | Promise<void> } = {}): { egress: EgressRecorder; records: EgressRecord[]; ends: EgressResult[][] } {
  const records: EgressRecord[] = [];
  const ends: EgressResult[][] = [];
  const egress: EgressRecorder = {
    async begin(record) {
      records.push(record);
      await options.onBegin?.(record);
      if (options.fail) throw options.fail;
      const mine: EgressResult[] = [];
      ends.push(mine);
      return { end: (result) => mine.push(result) };
    },
  };
  return { egress, records, ends };
}

// -------------------------------------------------------------------------------------------- strategies

describe('route: strategies over three entries', { timeout: 5000 }, () => {
  it('local first tries local → lan → cloud in order, moving on after each spillable failure', async () => {
    const { r, cloud } = setup({ local: { script: { fail: 'inference_failed', message: 'engine crashed' } }, lan: { script: { fail: 'network', message: 'lan unreachable' } } });
    const { response, seen } = await traced(r, { messages });
    assert.deepEqual(seen, ['local', 'lan', 'cloud']);
    assert.equal(response.text, 'from cloud');
    assert.equal(response.entryId, 'cloud');
    assert.equal(response.tier, 'standard');
    assert.deepEqual(response.spilledAfter, { kind: 'network', message: 'lan unreachable', retryable: true, entryId: 'lan' });
    assert.equal(response.routeReason, 'spilled over after network: lan unreachable');
    assert.equal(cloud.calls, 1);
  });

  it('cloud first tries lan → cloud → local', async () => {
    const { r } = setup({ router: { strategy: 'cloud-first' }, lan: { script: { fail: 'network' } }, cloud: { script: { fail: 'rate_limited' } } });
    const { response, seen } = await traced(r, { messages });
    assert.deepEqual(seen, ['lan', 'cloud', 'local']);
    assert.equal(response.text, 'from local');
    assert.equal(response.entryKind, 'local');
    assert.equal(response.tier, 'sovereign');
  });

  it('cloud only never calls the local entry, even when every endpoint fails', async () => {
    const { r, local, lan, cloud } = setup({ router: { strategy: 'cloud-only' }, lan: { script: { fail: 'network', message: 'lan down' } }, cloud: { script: { fail: 'network', message: 'cloud down' } } });
    const error = await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(error.message, 'cloud down (asked because Home server failed: lan down)');
    assert.equal(local.calls, 0);
    assert.deepEqual([lan.calls, cloud.calls], [1, 1]);
  });

  it('local only never calls an endpoint, even after a spillable failure', async () => {
    const { r, lan, cloud } = setup({ router: { strategy: 'local-only' }, local: { script: { fail: 'network', message: 'socket closed' } } });
    const error = await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(error.message, 'socket closed');
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
  });

  it("the seed strategy names map to the new ones and route the same way", async () => {
    const seeds: Array<[StrategyName, string, string[]]> = [
      ['primary-with-fallback', 'local-first', ['local', 'lan', 'cloud']],
      ['primary-only', 'local-only', ['local']],
      ['fallback-only', 'cloud-only', ['lan', 'cloud']],
    ];
    for (const [seed, canonical, order] of seeds) {
      assert.equal(canonicalStrategy(seed), canonical);
      const failing = { script: { fail: 'network' as const } };
      const { r } = setup({ router: { strategy: seed }, local: failing, lan: failing, cloud: failing });
      assert.equal(r.getStrategy(), canonical);
      const seen: string[] = [];
      await rejectsWith(r.complete({ messages, onRoute: (a) => seen.push(a.entryId) }), 'network');
      assert.deepEqual(seen, order, `order under ${seed}`);
    }
  });
});

describe('route: when a request moves to the next entry', { timeout: 5000 }, () => {
  it('a spillable failure of the 2nd entry moves on to the 3rd, for every spillable kind', async () => {
    for (const kind of SPILLABLE_KINDS) {
      const { r, cloud } = setup({ local: { script: { fail: 'network' } }, lan: { script: { fail: kind, message: `lan ${kind}` } } });
      const response = await r.complete({ messages });
      assert.equal(response.entryId, 'cloud', `after ${kind}`);
      assert.equal(response.spilledAfter?.kind, kind);
      assert.equal(cloud.calls, 1);
    }
  });

  for (const kind of ['auth', 'invalid_request'] as const) {
    it(`a non-spillable ${kind} on the 2nd entry is returned without trying the 3rd, saying why the 2nd was asked`, async () => {
      const { r, cloud } = setup({ local: { script: { fail: 'inference_failed', message: 'engine crashed' } }, lan: { script: { fail: kind, message: 'key refused' } } });
      const error = await rejectsWith(r.complete({ messages }), kind);
      assert.equal(error.message, 'key refused (asked because The local model failed: engine crashed)');
      assert.equal(cloud.calls, 0);
      assert.deepEqual(entry(r, 'lan').failuresByKind, { [kind]: 1 });
      assert.equal(entry(r, 'lan').spilloversOut, 0);
      assert.equal(entry(r, 'local').spilloversOut, 1);
    });
  }

  it('never moves on once text has streamed: the 2nd entry failing mid-answer ends it incomplete', async () => {
    const { r, cloud } = setup({ local: { script: { fail: 'network' } }, lan: { script: { fail: 'network', message: 'reset', afterPieces: ['Hal', 'f'] } } });
    const deltas: string[] = [];
    const response = await r.complete({ messages, onText: (d) => deltas.push(d) });
    assert.deepEqual(deltas, ['Hal', 'f']);
    assert.equal(response.text, 'Half');
    assert.equal(response.entryId, 'lan');
    assert.equal(response.stopReason, 'error');
    assert.equal(response.incomplete?.kind, 'network');
    assert.equal(cloud.calls, 0);
    assert.equal(r.metrics().incompleteAnswers, 1);
  });
});

// ------------------------------------------------------------------------------------------------ deadlines

describe('route: a deadline on every step', { timeout: 5000 }, () => {
  it('a local model stuck loading times out naming the load step; lan answers in time', async () => {
    const { r, local, lan } = setup({ router: DEADLINES, local: { prepare: { hang: true } } });
    const { response, firstTextMs, ms } = await traced(r, { messages });
    assert.equal(response.entryId, 'lan');
    assert.equal(response.spilledAfter?.kind, 'timeout');
    assert.equal(response.spilledAfter?.message, `The local model did not finish loading within ${LOAD_MS} ms.`);
    assert.equal(local.prepares, 1);
    assert.equal(local.calls, 0, 'never asked to generate');
    assert.equal(lan.calls, 1);
    within(firstTextMs ?? Infinity, LOAD_MS + 1000, "lan's first text");
    within(ms, LOAD_MS + MARGIN_MS, 'the request');
  });

  it('a local model stuck counting the prompt times out naming the count step', async () => {
    const { r, local } = setup({ router: DEADLINES, local: { tokensPerMessageChar: 1, countStep: { hang: true } } });
    const { response, ms } = await traced(r, { messages });
    assert.equal(response.entryId, 'lan');
    assert.equal(response.spilledAfter?.message, `The local model did not finish reading the prompt within ${FIRST_MS} ms.`);
    assert.equal(local.countTokensCalls.length, 1);
    assert.equal(local.calls, 0);
    within(ms, FIRST_MS + MARGIN_MS, 'the request');
  });

  it('a local model with no first text times out; the next entry streams within firstTokenTimeoutMs + 1 s', async () => {
    const { r, local } = setup({ router: DEADLINES, local: { script: { hang: true } } });
    const { response, firstTextMs, ms } = await traced(r, { messages });
    assert.equal(response.entryId, 'lan');
    assert.equal(response.spilledAfter?.message, `The local model produced no text within ${FIRST_MS} ms.`);
    assert.equal(local.results[0], 'aborted', 'the local engine was told to stop');
    within(firstTextMs ?? Infinity, FIRST_MS + 1000, "lan's first text");
    within(ms, FIRST_MS + MARGIN_MS, 'the request');
  });

  it('a local model that goes silent mid-answer ends it incomplete, naming the idle step; no spillover', async () => {
    const { r, lan, cloud } = setup({ router: DEADLINES, local: { script: { hang: true, pieces: ['partial'] } } });
    const { response, ms } = await traced(r, { messages });
    assert.equal(response.text, 'partial');
    assert.equal(response.stopReason, 'error');
    assert.equal(response.incomplete?.kind, 'timeout');
    assert.equal(response.incomplete?.message, `The local model stopped producing text for ${IDLE_MS} ms.`);
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
    within(ms, IDLE_MS + MARGIN_MS, 'the request');
  });

  it('a lan server with no first text within cloudTimeoutMs spills to cloud', async () => {
    const { r, cloud } = setup({ router: DEADLINES, local: { script: { fail: 'network' } }, lan: { script: { hang: true } } });
    const { response, seen, ms } = await traced(r, { messages });
    assert.deepEqual(seen, ['local', 'lan', 'cloud']);
    assert.equal(response.entryId, 'cloud');
    assert.equal(response.spilledAfter?.entryId, 'lan');
    assert.equal(response.spilledAfter?.message, `Home server produced no text within ${CLOUD_MS} ms.`);
    assert.equal(cloud.calls, 1);
    within(ms, CLOUD_MS + MARGIN_MS, 'the request');
  });

  it("endpoints run under cloudTimeoutMs, not the local model's first-token deadline", async () => {
    const { r } = setup({ router: { ...DEADLINES, firstTokenTimeoutMs: 50, cloudTimeoutMs: 1000 }, local: { script: { fail: 'network' } }, lan: { script: { reply: 'slow lan', ttftDelayMs: 150 } } });
    const response = await r.complete({ messages });
    assert.equal(response.text, 'slow lan');
    assert.equal(response.entryId, 'lan');
  });

  it('no request outlives its deadlines even when a stuck local driver never settles, at any step', async () => {
    const deadlineOf: Record<Step, number> = { load: LOAD_MS, count: FIRST_MS, 'first-token': FIRST_MS, idle: IDLE_MS };
    const expected: Record<Step, RegExp> = { load: /did not finish loading/, count: /did not finish reading the prompt/, 'first-token': /produced no text/, idle: /stopped producing text/ };
    await Promise.all(
      (Object.keys(deadlineOf) as Step[]).map(async (step) => {
        const stuck = new StuckDriver('local', step);
        const lan = lanDriver();
        const r = new RoutingDriver({ route: [{ driver: stuck, kind: 'local' }, { driver: lan, kind: 'remote' }, { driver: cloudDriver(), kind: 'remote' }], ...DEADLINES });
        const { response, ms } = await traced(r, { messages });
        within(ms, deadlineOf[step] + MARGIN_MS, `a driver stuck at ${step}`);
        if (step === 'idle') {
          assert.equal(response.text, 'partial');
          assert.match(response.incomplete?.message ?? '', expected[step]);
          assert.equal(lan.calls, 0);
        } else {
          assert.equal(response.entryId, 'lan', step);
          assert.match(response.spilledAfter?.message ?? '', expected[step]);
        }
        assert.equal(stuck.calls, step === 'load' || step === 'count' ? 0 : 1);
      }),
    );
  });

  it('a cancel of a never-settling local driver ends as aborted by its deadline at the latest, never moving on', async () => {
    const stuck = new StuckDriver('local', 'first-token');
    const lan = lanDriver();
    const r = new RoutingDriver({ route: [{ driver: stuck, kind: 'local' }, { driver: lan, kind: 'remote' }], ...DEADLINES });
    const cancel = new AbortController();
    const started = performance.now();
    const pending = r.complete({ messages, signal: cancel.signal });
    setTimeout(() => cancel.abort(), 20);
    await rejectsWith(pending, 'aborted');
    within(performance.now() - started, FIRST_MS + MARGIN_MS, 'the cancelled request');
    assert.equal(lan.calls, 0);
    assert.equal(entry(r, 'local').cancelled, 1);
  });

  it('never-settling local and lan drivers: cloud answers, and cloud only fails on time', async () => {
    const stuckLocal = new StuckDriver('local', 'first-token');
    const stuckLan = new StuckDriver('lan', 'first-token', 'private');
    const cloud = cloudDriver();
    const r = new RoutingDriver({ route: [{ driver: stuckLocal, kind: 'local' }, { driver: stuckLan, kind: 'remote' }, { driver: cloud, kind: 'remote' }], ...DEADLINES });
    const { response, firstTextMs } = await traced(r, { messages });
    assert.equal(response.entryId, 'cloud');
    assert.equal(response.spilledAfter?.entryId, 'lan');
    within(firstTextMs ?? Infinity, FIRST_MS + CLOUD_MS + 1000, "cloud's first text");

    const stuckCloud = new StuckDriver('cloud', 'first-token', 'standard');
    r.setRoute([{ driver: stuckLocal, kind: 'local' }, { driver: stuckLan, kind: 'remote' }, { driver: stuckCloud, kind: 'remote' }]);
    r.setStrategy('cloud-only');
    const started = performance.now();
    const error = await rejectsWith(r.complete({ messages }), 'timeout');
    within(performance.now() - started, 2 * CLOUD_MS + MARGIN_MS, 'cloud only with both endpoints stuck');
    assert.match(error.message, /^cloud produced no text within 150 ms\. \(asked because lan failed: lan produced no text/);
    assert.deepEqual(entry(r, 'lan').failuresByKind, { timeout: 2 });
  });
});

// -------------------------------------------------------------------------------------------------- metrics

describe('route: per-entry metrics', { timeout: 5000 }, () => {
  it('counts each entry: attempts, successes, failures by kind, spillovers out, cancels, incompletes, latency', async () => {
    const { r, local } = setup({
      local: { script: [{ fail: 'network' }, { reply: 'from local' }, { fail: 'inference_failed' }, { hang: true }, { fail: 'network', afterPieces: ['Hal'] }] },
      lan: { script: [{ fail: 'rate_limited' }, { reply: 'from lan' }] },
    });
    assert.equal((await r.complete({ messages })).entryId, 'cloud'); // local → lan → cloud
    assert.equal((await r.complete({ messages })).entryId, 'local');
    assert.equal((await r.complete({ messages })).entryId, 'lan'); // local → lan
    const cancel = new AbortController();
    const pending = r.complete({ messages, signal: cancel.signal });
    await local.waitForCall(4);
    cancel.abort();
    assert.equal((await pending).stopReason, 'aborted');
    assert.equal((await r.complete({ messages })).stopReason, 'error'); // incomplete

    const pick = (e: EntryMetrics): object => ({ attempts: e.attempts, successes: e.successes, failures: e.failures, failuresByKind: e.failuresByKind, spilloversOut: e.spilloversOut, cancelled: e.cancelled, incomplete: e.incomplete, answers: e.latency.totalMs.count });
    assert.deepEqual(pick(entry(r, 'local')), { attempts: 5, successes: 1, failures: 3, failuresByKind: { network: 2, inference_failed: 1 }, spilloversOut: 2, cancelled: 1, incomplete: 1, answers: 1 });
    assert.deepEqual(pick(entry(r, 'lan')), { attempts: 2, successes: 1, failures: 1, failuresByKind: { rate_limited: 1 }, spilloversOut: 1, cancelled: 0, incomplete: 0, answers: 1 });
    assert.deepEqual(pick(entry(r, 'cloud')), { attempts: 1, successes: 1, failures: 0, failuresByKind: {}, spilloversOut: 0, cancelled: 0, incomplete: 0, answers: 1 });

    const m = r.metrics();
    assert.deepEqual(m.entries.map((e) => [e.id, e.kind, e.name, e.model, e.tier]), [
      ['local', 'local', 'The local model', 'local-model', 'sovereign'],
      ['lan', 'remote', 'Home server', 'lan-model', 'private'],
      ['cloud', 'remote', 'Example Cloud', 'cloud-model', 'standard'],
    ]);
    // The seed aggregates: primary is the local entry, fallback any endpoint, a spillover any move between entries.
    assert.equal(m.primarySuccesses, 1);
    assert.equal(m.primaryFailures, 3);
    assert.equal(m.primaryAttempts, 4);
    assert.equal(m.fallbackSuccesses, 2);
    assert.equal(m.fallbackFailures, 1);
    assert.equal(m.fallbackSuccessRate, 2 / 3);
    assert.equal(m.spillovers, 3);
    assert.equal(m.cancelled, 1);
    assert.equal(m.incompleteAnswers, 1);
    assert.deepEqual(Object.keys(m.latency).sort(), ['cloud', 'lan', 'local']);
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m, 'plain JSON data');
  });

  it("each entry has its own circuit breaker: lan's opens after 3 health failures and is skipped, local's stays closed", async () => {
    const clock = fakeClock();
    const { r, local, lan, cloud } = setup({ router: { now: clock.now, circuitBreaker: { threshold: 3, cooldownMs: 30_000 } }, local: { script: [{ fail: 'network' }, { reply: 'from local' }] }, lan: { script: { fail: 'network' } } });
    for (let i = 0; i < 3; i++) assert.equal((await r.completeWith('cloud-first', { messages })).entryId, 'cloud');
    assert.equal(entry(r, 'lan').circuit.state, 'open');
    assert.equal(entry(r, 'lan').circuit.retryAt, clock.now() + 30_000);

    // Local first: local fails once (a health failure), lan is skipped, cloud answers.
    const { response, seen } = await traced(r, { messages });
    assert.deepEqual(seen, ['local', 'cloud']);
    assert.equal(response.entryId, 'cloud');
    assert.match(response.routeReason ?? '', /^circuit_open: Home server failed 3 times in a row/);
    assert.equal(lan.calls, 3);
    const skip = r.metrics().events.find((e) => e.outcome === 'skipped');
    assert.deepEqual([skip?.entryId, skip?.kind], ['lan', 'circuit_open']);
    assert.equal(entry(r, 'lan').circuit.skipped, 1);
    assert.deepEqual([entry(r, 'local').circuit.state, entry(r, 'local').circuit.consecutiveFailures], ['closed', 1]);
    assert.equal(r.metrics().circuitBreaker.state, 'closed', "the seed breaker is the local entry's");
    assert.equal(r.metrics().spillovers, 4, 'three lan → cloud moves and one local → cloud; the skip is not one');

    assert.equal((await r.complete({ messages })).entryId, 'local');
    assert.equal(entry(r, 'local').circuit.consecutiveFailures, 0);
    assert.equal(cloud.calls, 4);
    assert.equal(local.calls, 2);
  });

  it('an open circuit on the last candidate is still tried', async () => {
    const clock = fakeClock();
    const { r, lan, cloud } = setup({ router: { strategy: 'cloud-only', now: clock.now }, lan: { script: { fail: 'rate_limited' } }, cloud: { script: [{ fail: 'network' }, { fail: 'network' }, { fail: 'network' }, { fail: 'network' }, { reply: 'cloud is back' }] } });
    for (let i = 0; i < 3; i++) await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(entry(r, 'cloud').circuit.state, 'open');
    assert.equal(entry(r, 'lan').circuit.state, 'closed', 'rate limits say nothing about health');

    await rejectsWith(r.complete({ messages }), 'network');
    assert.equal(cloud.calls, 4, 'tried although open: nowhere else to go');
    assert.equal(entry(r, 'cloud').circuit.skipped, 0);
    assert.equal((await r.complete({ messages })).text, 'cloud is back');
    assert.equal(entry(r, 'cloud').circuit.state, 'closed');
    assert.equal(lan.calls, 5);
  });
});

// ------------------------------------------------------------------------------------------ privacy ceiling

describe('route: privacy ceiling', { timeout: 5000 }, () => {
  it("'private' lets the lan server answer but never reaches cloud", async () => {
    const { r, lan, cloud } = setup({ router: { ceiling: 'private' }, local: { script: { fail: 'network' } }, lan: { script: [{ reply: 'from lan' }, { fail: 'network', message: 'lan down' }] } });
    assert.equal((await r.complete({ messages })).entryId, 'lan');

    const error = await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    assert.match(error.message, /^Home server could not answer \(lan down\)/);
    assert.match(error.message, /privacy ceiling \(up to the local network\)/);
    assert.match(error.message, /Example Cloud/);
    assert.equal(cloud.calls, 0);
    assert.equal(lan.calls, 2);
    assert.equal(r.metrics().privacyBlocks, 1);
  });

  it("'sovereign' under cloud only fails privacy_blocked naming the skipped entries; nothing reaches them", async () => {
    const { r, local, lan, cloud } = setup({ router: { strategy: 'cloud-only', ceiling: 'sovereign' } });
    const error = await rejectsWith(r.complete({ messages }), 'privacy_blocked');
    assert.match(error.message, /this computer only/);
    assert.match(error.message, /Home server \(192\.168\.1\.20:8080\) is private/);
    assert.match(error.message, /Example Cloud \(api\.example\.com\) is standard/);
    assert.deepEqual([local.calls, lan.calls, cloud.calls], [0, 0, 0]);
    assert.equal(r.metrics().privacyBlocks, 1);
    assert.deepEqual(r.metrics().events.filter((e) => e.outcome === 'blocked').map((e) => e.entryId), ['lan', 'cloud']);
  });

  it('a per-request ceiling only tightens the router ceiling, never loosens it', async () => {
    const failing = { script: { fail: 'network' as const } };
    const { r, lan, cloud } = setup({ router: { ceiling: 'private' }, local: failing, lan: failing });
    await rejectsWith(r.routeRequest({ messages }, { ceiling: 'standard' }), 'privacy_blocked');
    assert.equal(cloud.calls, 0, "a request ceiling of 'standard' did not open the cloud");
    assert.equal(lan.calls, 1);

    r.setCeiling('standard');
    const error = await rejectsWith(r.routeRequest({ messages }, { ceiling: 'sovereign' }), 'privacy_blocked');
    assert.match(error.message, /this computer only/);
    assert.deepEqual([lan.calls, cloud.calls], [1, 0], 'the tighter request ceiling kept it here');
    assert.equal(r.metrics().privacyBlocks, 2);
  });

  it('privacyTier() is the most permissive entry the strategy may use, capped by the ceiling', () => {
    const { r, local, lan } = setup();
    const cases: Array<[StrategyName, PrivacyTier, PrivacyTier]> = [
      ['local-first', 'standard', 'standard'],
      ['local-only', 'standard', 'sovereign'],
      ['cloud-only', 'standard', 'standard'],
      ['cloud-first', 'private', 'private'],
      ['local-only', 'private', 'sovereign'],
      ['cloud-only', 'sovereign', 'sovereign'],
    ];
    for (const [strategy, ceiling, tier] of cases) {
      r.setStrategy(strategy);
      r.setCeiling(ceiling);
      assert.equal(r.privacyTier(), tier, `${strategy} under ${ceiling}`);
      assert.equal(r.metrics().privacyTier, tier);
    }
    r.setRoute([{ driver: local, kind: 'local' }, { driver: lan, kind: 'remote' }]);
    r.setStrategy('cloud-first');
    r.setCeiling('standard');
    assert.equal(r.privacyTier(), 'private', 'without a cloud entry the most permissive is the lan server');
  });
});

// ------------------------------------------------------------------------------------ capability and context

describe('route: capabilities and context windows', { timeout: 5000 }, () => {
  it('an image skips a local model that cannot read images and goes to the first endpoint that can', async () => {
    const both = setup({ lan: { capabilities: ['images'] }, cloud: { capabilities: ['images'] } });
    const first = await both.r.complete({ messages: imageMessages });
    assert.equal(first.entryId, 'lan');
    assert.equal(first.routeReason, 'The local model cannot read images');
    assert.equal(both.local.calls, 0);

    const onlyCloud = setup({ cloud: { capabilities: ['images'] } });
    const { response, seen } = await traced(onlyCloud.r, { messages: imageMessages });
    assert.deepEqual(seen, ['cloud']);
    assert.equal(response.routeReason, 'The local model cannot read images; Home server cannot read images');
    assert.equal(response.spilledAfter, undefined);

    const capableLocal = setup({ local: { capabilities: ['images'] }, cloud: { capabilities: ['images'] } });
    assert.equal((await capableLocal.r.complete({ messages: imageMessages })).entryId, 'local');
  });

  it('under local only an image or a tools request fails unsupported naming the missing capability', async () => {
    const { r, local, cloud } = setup({ router: { strategy: 'local-only' }, cloud: { capabilities: ['images', 'tools'] } });
    const image = await rejectsWith(r.complete({ messages: imageMessages }), 'unsupported');
    assert.match(image.message, /read images/);
    assert.match(image.message, /local only/);
    const tools = await rejectsWith(r.complete({ messages, needs: ['tools'] }), 'unsupported');
    assert.match(tools.message, /call tools/);
    assert.deepEqual([local.calls, cloud.calls], [0, 0]);
  });

  it('a request that needs tools goes to the first endpoint that can call them', async () => {
    const { r, local, lan } = setup({ cloud: { capabilities: ['tools'] } });
    const response = await r.complete({ messages, needs: ['tools'] });
    assert.equal(response.entryId, 'cloud');
    assert.match(response.routeReason ?? '', /The local model cannot call tools/);
    assert.deepEqual([local.calls, lan.calls], [0, 0]);
  });

  it('a prompt too long for the local window goes to the first endpoint whose window fits, past a too-small lan', async () => {
    const { r, local, lan, cloud } = setup({ local: { contextWindow: 100, tokensPerMessageChar: 1 }, lan: { contextWindow: 120 }, cloud: { contextWindow: 1000 } });
    const { response, seen } = await traced(r, { messages: longMessages, maxTokens: 20 });
    assert.equal(response.entryId, 'cloud');
    assert.deepEqual(seen, ['local', 'cloud']);
    assert.equal(response.spilledAfter?.kind, 'context_overflow');
    assert.equal(response.spilledAfter?.entryId, 'local');
    assert.deepEqual([local.calls, lan.calls, cloud.calls], [0, 0, 1]);
  });

  it('fails context_overflow naming every window when none fits; nothing is sent', async () => {
    const { r, lan, cloud } = setup({ local: { contextWindow: 100, tokensPerMessageChar: 1 }, lan: { contextWindow: 120 }, cloud: { contextWindow: 160 } });
    const error = await rejectsWith(r.complete({ messages: longMessages, maxTokens: 20 }), 'context_overflow');
    for (const n of ['150', '100', '120', '160']) assert.match(error.message, new RegExp(`\\b${n}\\b`), `names ${n}`);
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
  });

  it('embeddings go to the first endpoint that can make them; under local only they are unsupported', async () => {
    const { r, cloud } = setup({ cloud: { capabilities: ['embeddings'], embed: (s) => [s.length, 1] } });
    const result = await r.embed(['a', 'bb']);
    assert.equal(result.entryId, 'cloud');
    assert.deepEqual(result.vectors, [[1, 1], [2, 1]]);
    assert.deepEqual(cloud.embedCalls, [['a', 'bb']]);
    assert.equal(entry(r, 'cloud').successes, 1);

    r.setStrategy('local-only');
    const error = await rejectsWith(r.embed(['a']), 'unsupported');
    assert.match(error.message, /make embeddings/);
    assert.equal(cloud.embedCalls.length, 1);
  });

  it('a per-request ceiling keeps embeddings on this computer, and the refusal names that ceiling', async () => {
    const { r, cloud } = setup({ cloud: { capabilities: ['embeddings'], embed: () => [1] } });
    const error = await rejectsWith(r.embed(['a'], { ceiling: 'sovereign' }), 'unsupported');
    assert.equal(cloud.embedCalls.length, 0);
    assert.match(error.message, /privacy ceiling \(this computer only\)/, error.message);
  });
});

// ---------------------------------------------------------------------------------------------- consent

describe('route: consent before leaving this computer', { timeout: 5000 }, () => {
  it('is asked before any byte reaches an endpoint, and never for the local entry', async () => {
    const { r, local, lan } = setup({ local: { script: [{ fail: 'network', message: 'socket closed' }, { reply: 'from local' }] } });
    const ask = consent('once', true);
    const pending = r.routeRequest({ messages }, { consent: ask.hook });
    await ask.asked;
    await sleep(20);
    assert.equal(lan.calls, 0, 'nothing sent while the person decides');
    assert.equal(local.calls, 1);
    ask.open();
    assert.equal((await pending).entryId, 'lan');
    assert.equal(ask.asks.length, 1);
    const [first] = ask.asks;
    assert.deepEqual({ ...first, after: first?.after?.kind }, { entryId: 'lan', name: 'Home server', host: '192.168.1.20:8080', model: 'lan-model', tier: 'private', why: 'spillover', after: 'network' });

    assert.equal((await r.routeRequest({ messages }, { consent: ask.hook })).entryId, 'local');
    assert.equal(ask.asks.length, 1, 'a local answer asks nothing');
  });

  it("'once' is asked again for each endpoint the request reaches", async () => {
    const { r } = setup({ router: { strategy: 'cloud-only' }, lan: { script: { fail: 'network' } } });
    const ask = consent('once');
    assert.equal((await r.routeRequest({ messages }, { consent: ask.hook })).entryId, 'cloud');
    assert.deepEqual(ask.asks.map((a) => [a.entryId, a.why]), [['lan', 'cloud-only'], ['cloud', 'spillover']]);
  });

  it("'keep' under cloud first keeps the request here: the local entry answers, no endpoint is called", async () => {
    const { r, lan, cloud } = setup({ router: { strategy: 'cloud-first' } });
    const ask = consent('keep');
    const { response, seen } = await traced(r, { messages }, { consent: ask.hook });
    assert.equal(response.entryId, 'local');
    assert.equal(response.routeReason, 'kept on this computer');
    assert.deepEqual(seen, ['local']);
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
    assert.equal(ask.asks.length, 1, 'keep covers every endpoint of this request');
  });

  it("'keep' after a local failure fails privacy_blocked and sends nothing", async () => {
    const rec = recorder();
    const { r, lan, cloud } = setup({ router: { egress: rec.egress }, local: { script: { fail: 'network', message: 'socket closed' } } });
    const ask = consent('keep');
    const error = await rejectsWith(r.routeRequest({ messages }, { consent: ask.hook }), 'privacy_blocked');
    assert.match(error.message, /keep this conversation on this computer/);
    assert.deepEqual(ask.asks.map((a) => a.entryId), ['lan'], 'not asked again for cloud');
    assert.match(error.message, /socket closed/);
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
    assert.equal(rec.records.length, 0, 'nothing recorded as sent');
  });

  it('the wait for consent counts against no deadline', async () => {
    const { r } = setup({ router: { ...DEADLINES, firstTokenTimeoutMs: 100, cloudTimeoutMs: 100 }, local: { script: { fail: 'network' } }, lan: { script: { reply: 'from lan', ttftDelayMs: 20 } } });
    const ask = consent('once', true);
    const started = performance.now();
    const pending = r.routeRequest({ messages }, { consent: ask.hook });
    await ask.asked;
    await sleep(300);
    ask.open();
    const response = await pending;
    assert.ok(performance.now() - started >= 300);
    assert.equal(response.entryId, 'lan');
    assert.equal(response.stopReason, 'stop');
    assert.equal(response.text, 'from lan');
  });

  it('a cancel while the person decides ends the request as aborted; nothing is sent', async () => {
    const { r, lan } = setup({ router: { strategy: 'cloud-only' } });
    const ask = consent('once', true);
    const cancel = new AbortController();
    const pending = r.routeRequest({ messages, signal: cancel.signal }, { consent: ask.hook });
    await ask.asked;
    cancel.abort();
    await rejectsWith(pending, 'aborted');
    ask.open();
    await sleep(20);
    assert.equal(lan.calls, 0);
  });
});

// ----------------------------------------------------------------------------------------------- egress

describe('route: egress record', { timeout: 5000 }, () => {
  it('begin is awaited before the endpoint is called; the local entry is never recorded', async () => {
    const callsAtBegin: number[] = [];
    let lan!: ScriptedDriver;
    const rec = recorder({
      onBegin: async () => {
        callsAtBegin.push(lan.calls);
        await sleep(30);
        callsAtBegin.push(lan.calls);
      },
    });
    const s = setup({ router: { egress: rec.egress }, local: { script: [{ fail: 'network' }, { reply: 'from local' }] }, lan: { script: { reply: 'from the lan', pieces: ['from ', 'the ', 'lan'] } } });
    lan = s.lan;
    const response = await s.r.routeRequest({ messages }, { conversationId: 'conv-1' });
    assert.equal(response.entryId, 'lan');
    assert.deepEqual(callsAtBegin, [0, 0]);
    assert.equal(rec.records.length, 1);
    const { bytesSent, ...record } = rec.records[0]!;
    assert.ok(bytesSent > 0, `bytesSent ${bytesSent}`);
    assert.deepEqual(record, { entryId: 'lan', entryName: 'Home server', host: '192.168.1.20:8080', model: 'lan-model', tier: 'private', why: 'spillover', after: 'network', promptTokens: null, conversationId: 'conv-1' });
    assert.equal(rec.ends[0]?.length, 1);
    assert.deepEqual([rec.ends[0]?.[0]?.outcome, rec.ends[0]?.[0]?.tokensReceived], ['success', 3]);

    assert.equal((await s.r.complete({ messages })).entryId, 'local');
    assert.equal(rec.records.length, 1, 'a local answer is not egress');
  });

  it('a rejected begin fails closed: the error surfaces and no endpoint is called', async () => {
    const rec = recorder({ fail: new Error('ledger disk full') });
    const { r, lan, cloud } = setup({ router: { strategy: 'cloud-only', egress: rec.egress } });
    await assert.rejects(r.complete({ messages }), /ledger disk full/);
    assert.deepEqual([lan.calls, cloud.calls], [0, 0]);
    assert.equal(rec.records.length, 1);
  });

  it('records why each request left this computer', async () => {
    const cases: Array<{ name: string; setup: SetupOptions; request?: Partial<CompletionRequest>; options?: RouteOptions; entryId: string; why: string; after?: DriverErrorKind }> = [
      { name: 'cloud only', setup: { router: { strategy: 'cloud-only' } }, entryId: 'lan', why: 'cloud-only' },
      { name: 'cloud first', setup: { router: { strategy: 'cloud-first' } }, entryId: 'lan', why: 'cloud-first' },
      { name: 'spillover', setup: { local: { script: { fail: 'inference_failed' } } }, entryId: 'lan', why: 'spillover', after: 'inference_failed' },
      { name: 'retry', setup: {}, options: { strategy: 'cloud-only', reason: 'retry' }, entryId: 'lan', why: 'retry' },
      { name: 'capability', setup: { cloud: { capabilities: ['images'] } }, request: { messages: imageMessages }, entryId: 'cloud', why: 'capability' },
      { name: 'pinned', setup: {}, options: { entryId: 'cloud' }, entryId: 'cloud', why: 'pinned' },
    ];
    for (const c of cases) {
      const rec = recorder();
      const { r } = setup({ ...c.setup, router: { ...c.setup.router, egress: rec.egress } });
      const response = await r.routeRequest({ messages, ...c.request }, c.options ?? {});
      assert.equal(response.entryId, c.entryId, c.name);
      assert.equal(rec.records.length, 1, c.name);
      const record = rec.records[0]!;
      assert.deepEqual([record.entryId, record.why, record.after, record.conversationId, record.promptTokens], [c.entryId, c.why, c.after, undefined, null], c.name);
      assert.equal(record.host, c.entryId === 'lan' ? '192.168.1.20:8080' : 'api.example.com', c.name);
    }
  });

  it('carries the prompt tokens the local entry counted', async () => {
    const rec = recorder();
    const { r } = setup({ router: { egress: rec.egress }, local: { contextWindow: 100, tokensPerMessageChar: 1 }, lan: { contextWindow: 120 } });
    assert.equal((await r.complete({ messages: longMessages, maxTokens: 20 })).entryId, 'cloud');
    assert.deepEqual(rec.records.map((x) => [x.entryId, x.why, x.after, x.promptTokens]), [['cloud', 'spillover', 'context_overflow', 150]]);
  });

  it('end is called once per record with the outcome: failure, success, incomplete, aborted', async () => {
    const rec = recorder();
    const { r, lan } = setup({
      router: { strategy: 'cloud-only', egress: rec.egress },
      lan: { script: [{ fail: 'network' }, { fail: 'network', afterPieces: ['a', 'b'] }, { hang: true }] },
      cloud: { script: { reply: 'one two three' } },
    });
    assert.equal((await r.complete({ messages })).entryId, 'cloud');
    assert.equal((await r.complete({ messages })).stopReason, 'error');
    const cancel = new AbortController();
    const pending = r.complete({ messages, signal: cancel.signal });
    await lan.waitForCall(3);
    cancel.abort();
    assert.equal((await pending).stopReason, 'aborted');

    assert.deepEqual(rec.records.map((x) => x.entryId), ['lan', 'cloud', 'lan', 'lan']);
    assert.ok(rec.ends.every((list) => list.length === 1), `end() once each: ${JSON.stringify(rec.ends)}`);
    assert.deepEqual(rec.ends.map(([e]) => [e?.outcome, e?.tokensReceived]), [
      ['failure', null],
      ['success', 3],
      ['incomplete', 2],
      ['aborted', 0],
    ]);
    assert.equal(rec.ends[0]?.[0]?.errorKind, 'network');
  });
});

// --------------------------------------------------------------------------------------------------- plan

describe('route: nextEntry and plan', { timeout: 5000 }, () => {
  const id = (e: { driver: LlmDriver } | null | undefined): string | null => e?.driver.id ?? null;

  it('nextEntry follows the strategy, the ceiling and a pinned entry id', () => {
    const { r } = setup();
    assert.equal(id(r.nextEntry()), 'local');
    assert.equal(id(r.nextEntry({ strategy: 'cloud-first' })), 'lan');
    assert.equal(id(r.nextEntry({ strategy: 'fallback-only' })), 'lan');
    assert.equal(id(r.nextEntry({ strategy: 'cloud-first', ceiling: 'sovereign' })), 'local');
    assert.equal(id(r.nextEntry({ strategy: 'cloud-only', ceiling: 'sovereign' })), null);
    assert.equal(id(r.nextEntry({ entryId: 'cloud' })), 'cloud');
    assert.equal(id(r.nextEntry({ entryId: 'cloud', ceiling: 'private' })), null);
    assert.equal(id(r.nextEntry({ entryId: 'gone' })), null);
    r.setCeiling('private');
    assert.equal(id(r.nextEntry({ entryId: 'cloud', ceiling: 'standard' })), null, 'a request ceiling cannot loosen the router');
  });

  it('plan lists the candidates, the entries above the ceiling and what each lacks', () => {
    const { r } = setup({ lan: { capabilities: ['images'] }, cloud: { capabilities: ['images'] } });
    const plan = r.plan({ ceiling: 'private' }, ['images']);
    assert.deepEqual(plan.candidates.map(id), ['lan']);
    assert.deepEqual(plan.aboveCeiling.map(id), ['cloud']);
    assert.deepEqual(plan.lacking.map((l) => [id(l.entry), l.missing]), [['local', ['images']]]);
    assert.deepEqual(plan.order.map(id), ['local', 'lan', 'cloud']);
    assert.deepEqual(r.plan({ strategy: 'cloud-first' }).candidates.map(id), ['lan', 'cloud', 'local']);
  });

  it('a pinned entry answers alone: it is never spilled from, whatever the strategy', async () => {
    const { r, local, lan, cloud } = setup({ router: { strategy: 'local-only' }, lan: { script: [{ reply: 'from lan' }, { fail: 'network', message: 'lan down' }] } });
    const response = await r.routeRequest({ messages }, { entryId: 'lan' });
    assert.equal(response.entryId, 'lan');
    assert.equal(response.routeReason, 'pinned to Home server');
    const error = await rejectsWith(r.routeRequest({ messages }, { entryId: 'lan' }), 'network');
    assert.equal(error.message, 'lan down');
    assert.deepEqual([local.calls, lan.calls, cloud.calls], [0, 2, 0]);
  });

  it('a pinned entry id that is not in the route fails with a clear error; nothing is called', async () => {
    const { r, local, lan, cloud } = setup();
    const error = await rejectsWith(r.routeRequest({ messages }, { entryId: 'gone' }), 'model_not_found');
    assert.match(error.message, /"gone" is not an entry of the route/);
    assert.deepEqual([local.calls, lan.calls, cloud.calls], [0, 0, 0]);
  });

  it('a pinned entry beyond the ceiling is refused as privacy_blocked; nothing is sent', async () => {
    const { r, cloud } = setup({ router: { ceiling: 'private' } });
    const error = await rejectsWith(r.routeRequest({ messages }, { entryId: 'cloud' }), 'privacy_blocked');
    assert.match(error.message, /Example Cloud \(api\.example\.com\) is standard/);
    assert.equal(cloud.calls, 0);
  });

  it('modelName and contextWindow describe the entry the next request goes to', () => {
    const { r } = setup({ router: { strategy: 'cloud-first' } });
    assert.deepEqual([r.modelName(), r.contextWindow()], ['lan-model', 8192]);
    r.setCeiling('sovereign');
    assert.equal(id(r.nextEntry()), 'local');
    assert.deepEqual([r.modelName(), r.contextWindow()], ['local-model', 4096], 'the lan server is beyond the ceiling');
  });
});
