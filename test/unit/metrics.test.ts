import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventLog, LatencyTracker, SampleWindow } from '../../electron/core/metrics.js';

describe('SampleWindow', () => {
  it('is empty before any sample', () => {
    assert.deepEqual(new SampleWindow().snapshot(), { count: 0, p50: null, p95: null });
  });

  it('uses nearest-rank percentiles: 1..100 gives p50 50 and p95 95, whatever the insertion order', () => {
    const window = new SampleWindow();
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const value of [...values].reverse()) window.add(value);
    assert.deepEqual(window.snapshot(), { count: 100, p50: 50, p95: 95 });
  });

  it('nearest rank on small sets', () => {
    const one = new SampleWindow();
    one.add(7);
    assert.deepEqual(one.snapshot(), { count: 1, p50: 7, p95: 7 });

    const ten = new SampleWindow();
    for (let i = 1; i <= 10; i++) ten.add(i * 10);
    // ceil(0.5 * 10) = 5th value, ceil(0.95 * 10) = 10th value
    assert.deepEqual(ten.snapshot(), { count: 10, p50: 50, p95: 100 });

    const twenty = new SampleWindow();
    for (let i = 1; i <= 20; i++) twenty.add(i);
    // ceil(0.95 * 20) = 19th value
    assert.deepEqual(twenty.snapshot(), { count: 20, p50: 10, p95: 19 });
  });

  it('rounds to two decimals and ignores non-finite samples', () => {
    const window = new SampleWindow();
    window.add(1.23456);
    window.add(Number.NaN);
    window.add(Number.POSITIVE_INFINITY);
    assert.deepEqual(window.snapshot(), { count: 1, p50: 1.23, p95: 1.23 });
  });

  it('computes percentiles over the most recent `capacity` samples', () => {
    const window = new SampleWindow(10);
    for (let i = 1; i <= 10; i++) window.add(1000);
    for (let i = 1; i <= 10; i++) window.add(i);
    const snapshot = window.snapshot();
    assert.equal(snapshot.p50, 5, 'the old 1000s have left the window');
    assert.equal(snapshot.p95, 10);
  });
});

describe('LatencyTracker', () => {
  it('records TTFT, total time and generation speed after the first token', () => {
    const tracker = new LatencyTracker();
    // 11 tokens: 10 after the first, generated in 500 ms => 20 tokens per second.
    tracker.add({ timeToFirstTokenMs: 100, totalMs: 600, outputTokens: 11 });
    assert.deepEqual(tracker.snapshot(), {
      timeToFirstTokenMs: { count: 1, p50: 100, p95: 100 },
      totalMs: { count: 1, p50: 600, p95: 600 },
      tokensPerSecond: { count: 1, p50: 20, p95: 20 },
    });
  });

  it('skips TTFT and speed when no text was produced, and speed for a single token', () => {
    const tracker = new LatencyTracker();
    tracker.add({ timeToFirstTokenMs: null, totalMs: 50, outputTokens: 0 });
    tracker.add({ timeToFirstTokenMs: 10, totalMs: 20, outputTokens: 1 });
    const snapshot = tracker.snapshot();
    assert.equal(snapshot.totalMs.count, 2);
    assert.equal(snapshot.timeToFirstTokenMs.count, 1);
    assert.equal(snapshot.tokensPerSecond.count, 0);
    assert.equal(snapshot.tokensPerSecond.p50, null);
  });

  it('percentiles over many samples', () => {
    const tracker = new LatencyTracker();
    for (let i = 1; i <= 100; i++) tracker.add({ timeToFirstTokenMs: i, totalMs: i * 10, outputTokens: 0 });
    const snapshot = tracker.snapshot();
    assert.deepEqual(snapshot.timeToFirstTokenMs, { count: 100, p50: 50, p95: 95 });
    assert.deepEqual(snapshot.totalMs, { count: 100, p50: 500, p95: 950 });
  });
});

describe('EventLog', () => {
  it('keeps the most recent `capacity` events, oldest first, and returns copies', () => {
    const log = new EventLog(3);
    for (let i = 0; i < 5; i++) log.push({ at: i, entryId: 'local', entryKind: 'local', outcome: 'success' });
    const events = log.snapshot();
    assert.deepEqual(events.map((e) => e.at), [2, 3, 4]);
    events[0]!.outcome = 'failure';
    assert.equal(log.snapshot()[0]!.outcome, 'success');
  });

  it('defaults to 100 events', () => {
    const log = new EventLog();
    for (let i = 0; i < 150; i++) log.push({ at: i, entryId: 'x', entryKind: 'remote', outcome: 'success' });
    assert.equal(log.snapshot().length, 100);
    assert.equal(log.snapshot()[0]!.at, 50);
  });
});
