/**
 * Lets a sequence's erase, save or load in between the other sequences' tokens.
 *
 * In node-llama-cpp 3.21 those operations take the context's lock (`withLock([context, "context"])`), and
 * the batch dispatcher holds that same lock for as long as any sequence has a decode queued
 * (`LlamaContext.dispatchPendingBatch` loops `while (this._queuedDecodes.length > 0)`). A generating
 * sequence queues its next token before the loop checks again, so a request that arrives while others
 * generate, and whose sequence holds another prompt's tokens, waits for every answer ahead to finish
 * before its first token: measured 4.4 s on the bench model for the 4th of 4 clients.
 *
 * The gate is the way in: while such an operation waits, each generating sequence holds its next token
 * until the operation is done, so the dispatcher finds its queue empty and lets the lock go to the
 * operation. The others lose the time of one erase, save or load; the request waiting no longer loses
 * the length of their answers.
 */

/** The operations of node-llama-cpp's LlamaContextSequence that take the context's lock. */
const LOCKING = new Set<PropertyKey>(['eraseContextTokenRanges', 'adaptStateToTokens', 'clearHistory', 'saveStateToFile', 'loadStateFromFile']);

/** Its token-by-token evaluations: LlamaChat and LlamaCompletion use `evaluate`, the logprobs loop the other. */
const EVALUATIONS = new Set<PropertyKey>(['evaluate', 'evaluateWithMetadata']);

export class ContextGate {
  private waiting = 0;
  /** Resolves when no operation waits any more; null while none does. */
  private clear: Promise<void> | null = null;
  private open: (() => void) | null = null;

  /** Operations waiting for (or holding) the context's lock now. */
  pending(): number {
    return this.waiting;
  }

  /** Runs `operation` (one that takes the context's lock) while generations hold their next token. */
  async exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.waiting++ === 0) this.clear = new Promise((resolve) => (this.open = resolve));
    try {
      return await operation();
    } finally {
      if (--this.waiting === 0) {
        this.open!();
        this.clear = this.open = null;
      }
    }
  }

  /**
   * The sequence as LlamaChat and the slot pool should see it: its evaluations pass the gate before every
   * token, and its locking operations go through `exclusive`. Everything else is the sequence itself,
   * with methods bound to it, so node-llama-cpp's internals never see the wrapper.
   */
  wrap<S extends object>(sequence: S): S {
    const gate = this;
    return new Proxy(sequence, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (EVALUATIONS.has(property)) {
          return (...args: unknown[]) => gate.gatedEvaluation(method.apply(target, args) as AsyncGenerator<unknown, unknown, unknown>);
        }
        if (LOCKING.has(property)) return (...args: unknown[]) => gate.exclusive(async () => method.apply(target, args));
        return method.bind(target);
      },
    });
  }

  private async *gatedEvaluation(inner: AsyncGenerator<unknown, unknown, unknown>): AsyncGenerator<unknown, unknown, unknown> {
    try {
      let input: unknown;
      for (;;) {
        // Before every token: wait while an operation waits (nothing to wait for while the gate is open).
        // One turn of the event loop would not do: sampling is asynchronous, so the dispatcher can still be
        // finishing a batch and find this token queued. A waiting generation holds no lock.
        if (this.clear) await this.clear;
        const step = await inner.next(input);
        if (step.done) return step.value;
        input = yield step.value;
      }
    } finally {
      await inner.return(undefined);
    }
  }
}
