import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../electron/core/circuit-breaker.js';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function opened(threshold = 3, cooldownMs = 30_000): { breaker: CircuitBreaker; time: ReturnType<typeof clock> } {
  const time = clock();
  const breaker = new CircuitBreaker({ threshold, cooldownMs }, time.now);
  for (let i = 0; i < threshold; i++) {
    assert.equal(breaker.decide(), 'try');
    breaker.failure();
  }
  return { breaker, time };
}

describe('CircuitBreaker', () => {
  it('defaults to threshold 3 and a 30 s cooldown, closed', () => {
    const snapshot = new CircuitBreaker().snapshot();
    assert.deepEqual(snapshot, { state: 'closed', consecutiveFailures: 0, threshold: 3, cooldownMs: 30_000, retryAt: null, skipped: 0 });
  });

  it('stays closed below the threshold and opens at it', () => {
    const time = clock();
    const breaker = new CircuitBreaker({ threshold: 3, cooldownMs: 30_000 }, time.now);
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.snapshot().state, 'closed');
    assert.equal(breaker.decide(), 'try');
    breaker.failure();
    const snapshot = breaker.snapshot();
    assert.equal(snapshot.state, 'open');
    assert.equal(snapshot.consecutiveFailures, 3);
    assert.equal(snapshot.retryAt, 1_000 + 30_000);
  });

  it('skips while open and counts the skips', () => {
    const { breaker, time } = opened();
    assert.equal(breaker.decide(), 'skip');
    time.advance(29_999);
    assert.equal(breaker.decide(), 'skip');
    assert.equal(breaker.snapshot().skipped, 2);
    assert.equal(breaker.snapshot().state, 'open');
  });

  it('turns half-open once the cooldown has passed, and lets exactly one probe through', () => {
    const { breaker, time } = opened();
    time.advance(30_000);
    assert.equal(breaker.snapshot().state, 'half-open');
    assert.equal(breaker.snapshot().retryAt, null);
    assert.equal(breaker.decide(), 'probe');
    assert.equal(breaker.decide(), 'skip', 'a second request during the probe is skipped');
    assert.equal(breaker.decide(), 'skip');
    assert.equal(breaker.snapshot().skipped, 2);
  });

  it('a successful probe closes the circuit and resets the count', () => {
    const { breaker, time } = opened();
    time.advance(30_000);
    assert.equal(breaker.decide(), 'probe');
    breaker.success();
    assert.equal(breaker.snapshot().state, 'closed');
    assert.equal(breaker.snapshot().consecutiveFailures, 0);
    assert.equal(breaker.decide(), 'try');
  });

  it('a failed probe reopens the circuit for a fresh cooldown', () => {
    const { breaker, time } = opened();
    time.advance(40_000);
    assert.equal(breaker.decide(), 'probe');
    breaker.failure();
    const snapshot = breaker.snapshot();
    assert.equal(snapshot.state, 'open');
    assert.equal(snapshot.retryAt, 1_000 + 40_000 + 30_000);
    assert.equal(breaker.decide(), 'skip');
    time.advance(30_000);
    assert.equal(breaker.decide(), 'probe');
  });

  it('a released probe (cancelled) lets the next request probe', () => {
    const { breaker, time } = opened();
    time.advance(30_000);
    assert.equal(breaker.decide(), 'probe');
    breaker.release();
    assert.equal(breaker.snapshot().state, 'half-open');
    assert.equal(breaker.decide(), 'probe');
  });

  it('a success between failures resets the consecutive count', () => {
    const breaker = new CircuitBreaker({ threshold: 3 });
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.snapshot().state, 'closed');
    assert.equal(breaker.snapshot().consecutiveFailures, 2);
  });

  it('threshold and cooldown can be changed at run time', () => {
    const time = clock();
    const breaker = new CircuitBreaker({}, time.now);
    breaker.threshold = 1;
    breaker.cooldownMs = 10;
    breaker.failure();
    assert.equal(breaker.decide(), 'skip');
    time.advance(10);
    assert.equal(breaker.decide(), 'probe');
  });
});
