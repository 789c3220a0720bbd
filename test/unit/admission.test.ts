/** The local engine's one limit and one queue, without a model: who runs, who waits, who is refused and when to retry. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DriverError } from '../../electron/core/errors.js';
import { Admission } from '../../electron/drivers/admission.js';

describe('admission', () => {
  test('the limit runs at once, the queue waits in arrival order, the rest are refused with a Retry-After', async () => {
    const admission = new Admission(2);
    admission.setLimit(2);
    assert.equal(await admission.enter(), true);
    assert.equal(await admission.enter(), true);
    const order: string[] = [];
    const third = admission.enter().then((ok) => order.push(`third ${ok}`));
    const fourth = admission.enter().then((ok) => order.push(`fourth ${ok}`));
    assert.equal(admission.queued(), 2);
    assert.throws(() => admission.enter(), (error: unknown) => {
      assert.ok(error instanceof DriverError, String(error));
      assert.equal(error.kind, 'rate_limited');
      assert.match(error.message, /2 answers are being written and 2 waiting; try again in 3 s/);
      // No answer has finished yet: the estimate assumes 5 s ones, two at a time.
      assert.equal(error.retryAfterMs, 2500);
      return true;
    });
    admission.leave(1000);
    await third;
    assert.deepEqual(order, ['third true']);
    admission.leave(1000);
    await fourth;
    assert.deepEqual(order, ['third true', 'fourth true']);
    assert.equal(admission.running(), 2);
  });

  test('the Retry-After follows how long answers really take, within 1 to 60 s', () => {
    const fast = new Admission(0);
    fast.setLimit(1);
    void fast.enter();
    fast.leave(200);
    assert.equal(fast.retryAfterMs(), 1000, 'never less than a second');
    const slow = new Admission(0);
    slow.setLimit(1);
    void slow.enter();
    slow.leave(600_000);
    assert.equal(slow.retryAfterMs(), 60_000, 'never more than a minute');
  });

  test('a cancelled waiter leaves the queue; a higher limit starts waiters; failWaiting ends the rest', async () => {
    const admission = new Admission(4);
    await admission.enter();
    const cancel = new AbortController();
    const cancelled = admission.enter(cancel.signal);
    const started = admission.enter();
    const failed = admission.enter();
    cancel.abort();
    assert.equal(await cancelled, false);
    assert.equal(admission.queued(), 2);
    admission.setLimit(2);
    assert.equal(await started, true);
    admission.failWaiting(new DriverError('model_not_found', 'gone'));
    await assert.rejects(failed, /gone/);
    assert.equal(admission.queued(), 0);
  });
});
