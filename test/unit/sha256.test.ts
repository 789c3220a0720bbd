/** The download hash: on the worker thread it must equal the inline one, whatever the chunking. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createSha256 } from '../../electron/services/models/sha256.js';

test('worker and inline hashes agree, with copied, adopted, sliced and empty chunks', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const expected = createHash('sha256').update(data).digest('hex');
  const chunks = (): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = 0, size = 1; at < data.length; size = size * 3 + 1) {
      // Owned chunks (each its own ArrayBuffer, like socket reads) and views into a shared one.
      const piece = data.subarray(at, Math.min(data.length, at + Math.min(size, 512 * 1024)));
      out.push(out.length % 2 ? Buffer.from(piece) : piece);
      at += piece.length;
    }
    return out;
  };
  for (const onWorker of [true, false]) {
    const adopted = createSha256(onWorker);
    const parts = chunks();
    adopted.adopt(parts.slice(0, 5));
    adopted.update([Buffer.alloc(0)]);
    adopted.adopt(parts.slice(5));
    assert.equal(await adopted.digest(), expected, `adopt, worker=${onWorker}`);
    const copied = createSha256(onWorker);
    copied.update(chunks());
    assert.equal(await copied.digest(), expected, `update, worker=${onWorker}`);
  }
});

test('adopting moves whole buffers to the worker; copying leaves them usable', async () => {
  const owned = Buffer.from(randomBytes(64 * 1024));
  const kept = Buffer.from(randomBytes(64 * 1024));
  const expected = createHash('sha256').update(owned).update(kept).digest('hex');
  const hash = createSha256(true);
  hash.adopt([owned]);
  hash.update([kept]);
  assert.equal(owned.length, 0, 'transferred, not copied');
  assert.equal(kept.length, 64 * 1024);
  assert.equal(await hash.digest(), expected);
});

test('a fast writer is told to wait, and a disposed hash does not keep the process alive', async () => {
  const hash = createSha256(true);
  const block = randomBytes(8 * 1024 * 1024);
  for (let i = 0; i < 12; i++) hash.update([block]);
  assert.equal(hash.congested, true);
  await hash.drained();
  assert.equal(hash.congested, false);
  hash.dispose();
  const other = createSha256(true);
  other.dispose(); // the test runner would hang here if the worker stayed referenced
});
