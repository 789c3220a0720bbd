/**
 * The gate that lets a sequence's erase, save or load in between other sequences' tokens, on a fake
 * sequence (the real one is exercised in test/integration/parallel.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ContextGate } from '../../electron/inference/context-gate.js';

/** The part of a LlamaContextSequence the gate touches, recording what happens in order. */
class FakeSequence {
  readonly log: string[] = [];
  contextTokens = [1, 2, 3];
  release: (() => void) | null = null;

  async *evaluate(tokens: number[]): AsyncGenerator<number, void, unknown> {
    for (const token of tokens) {
      this.log.push(`token ${token}`);
      yield token;
    }
  }

  async clearHistory(): Promise<void> {
    this.log.push('clear starts');
    await new Promise<void>((resolve) => (this.release = resolve));
    this.contextTokens = [];
    this.log.push('clear ends');
  }

  get tokenCount(): number {
    return this.contextTokens.length;
  }
}

describe('context gate', () => {
  test('a generation holds its next token while another sequence clears, then goes on', async () => {
    const gate = new ContextGate();
    const generating = new FakeSequence();
    const clearing = new FakeSequence();
    const wrappedGenerating = gate.wrap(generating);
    const wrappedClearing = gate.wrap(clearing);
    const tokens = wrappedGenerating.evaluate([1, 2, 3]);
    assert.deepEqual(await tokens.next(), { value: 1, done: false });

    const clear = wrappedClearing.clearHistory();
    assert.equal(gate.pending(), 1);
    const second = tokens.next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(generating.log, ['token 1'], 'the generation waited for the clear');
    clearing.release!();
    await clear;
    assert.equal(gate.pending(), 0);
    assert.deepEqual(await second, { value: 2, done: false });
    assert.deepEqual(await tokens.next(), { value: 3, done: false });
    assert.deepEqual(await tokens.next(), { value: undefined, done: true });
    assert.deepEqual(clearing.log, ['clear starts', 'clear ends']);
  });

  test('without a waiting operation a generation never waits, and the wrapper is the sequence itself otherwise', async () => {
    const gate = new ContextGate();
    const sequence = new FakeSequence();
    const wrapped = gate.wrap(sequence);
    const seen: number[] = [];
    for await (const token of wrapped.evaluate([4, 5])) seen.push(token);
    assert.deepEqual(seen, [4, 5]);
    // Getters and fields read the sequence's own state, also after it changes.
    assert.equal(wrapped.tokenCount, 3);
    sequence.contextTokens = [9];
    assert.deepEqual(wrapped.contextTokens, [9]);
    assert.equal(wrapped.tokenCount, 1);
  });

  test('a generation stopped while it waits ends the sequence\'s own evaluation too', async () => {
    const gate = new ContextGate();
    const generating = new FakeSequence();
    const clearing = new FakeSequence();
    let finished = false;
    generating.evaluate = async function* (tokens: number[]) {
      try {
        for (const token of tokens) yield token;
      } finally {
        finished = true;
      }
    };
    const tokens = gate.wrap(generating).evaluate([1, 2]);
    await tokens.next();
    const clear = gate.wrap(clearing).clearHistory();
    clearing.release!();
    await clear;
    await tokens.return(undefined);
    assert.equal(finished, true);
  });
});
