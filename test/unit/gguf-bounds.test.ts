/**
 * The GGUF header walk that runs before node-llama-cpp reads a file: every claimed count and length is
 * checked against the bytes the file has, so no header can make reading it slow or large.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkGgufBounds, GgufBoundsError } from '../../electron/inference/gguf-bounds.js';
import { buildBigramModel, hostileHeader } from '../fixtures/gguf-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'spillway-gguf-bounds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(bytes: Buffer): string {
  const path = join(dir, `f${n++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

/** A header with the given counts followed by `body`. */
function header(tensors: bigint, entries: bigint, body: Buffer = Buffer.alloc(64)): Buffer {
  const start = Buffer.alloc(24);
  start.write('GGUF', 0, 'latin1');
  start.writeUInt32LE(3, 4);
  start.writeBigUInt64LE(tensors, 8);
  start.writeBigUInt64LE(entries, 16);
  return Buffer.concat([start, body]);
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}
function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}
function str(text: string): Buffer {
  return Buffer.concat([u64(BigInt(Buffer.byteLength(text))), Buffer.from(text)]);
}

async function refused(bytes: Buffer, pattern: RegExp): Promise<number> {
  const started = performance.now();
  await assert.rejects(checkGgufBounds(file(bytes)), (error: unknown) => {
    assert.ok(error instanceof GgufBoundsError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
  return performance.now() - started;
}

describe('GGUF header bounds', () => {
  test('a real model passes, and the walk reports what it read', async () => {
    const model = buildBigramModel();
    const summary = await checkGgufBounds(file(model));
    assert.equal(summary.version, 3);
    assert.equal(summary.tensorCount, 12);
    assert.equal(summary.metadataCount, 20);
    assert.ok(summary.headerBytes > 24 && summary.headerBytes < model.length, String(summary.headerBytes));
  });

  test('the 88-byte header claiming 2^63 tensors and entries is refused at once', async () => {
    const before = process.memoryUsage().rss;
    const ms = await refused(hostileHeader(), /claims more than 2\^53 tensors, but the 64 bytes left could hold at most 1/);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'memory stayed bounded');
  });

  test('counts are checked against what the rest of the file can hold', async () => {
    await refused(header(0n, 2n ** 63n), /more than 2\^53 metadata entries/);
    await refused(header(0n, 1000n), /claims 1000 metadata entries, but the 64 bytes left could hold at most 4/);
    await refused(header(3n, 0n), /claims 3 tensors/);
  });

  test('string and array lengths are checked before they are skipped', async () => {
    await refused(header(0n, 1n, Buffer.concat([u64(2n ** 40n), Buffer.alloc(64)])), /length of metadata key 0|metadata key 0 \(\d+ bytes\) runs past the end/);
    const hugeString = Buffer.concat([str('general.name'), u32(8), u64(2n ** 62n), Buffer.alloc(32)]);
    await refused(header(0n, 1n, hugeString), /metadata entry 0 \(more than 2\^53 bytes\) runs past the end/);
    const hugeArray = Buffer.concat([str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(2n ** 60n), Buffer.alloc(32)]);
    await refused(header(0n, 1n, hugeArray), /elements in metadata entry 0/);
    const nested = Buffer.concat([str('a'), u32(9), u32(9), u64(1n), u32(9), u64(1n), u32(9), u64(1n), Buffer.alloc(32)]);
    await refused(header(0n, 1n, nested), /nests arrays deeper than 2/);
    await refused(header(0n, 1n, Buffer.concat([str('a'), u32(77), Buffer.alloc(32)])), /unknown value type 77/);
  });

  test('tensor infos must have 1 to 4 dimensions and fit the file', async () => {
    const tooManyDims = Buffer.concat([str('t'), u32(1_000_000), Buffer.alloc(40)]);
    await refused(header(1n, 0n, tooManyDims), /tensor 0 claims 1000000 dimensions/);
    // Cut inside the vocabulary: the token array claims more strings than the bytes left can hold.
    await refused(buildBigramModel().subarray(0, 2000), /claims 359 elements in metadata entry 12, but the \d+ bytes left could hold at most \d+/);
    await refused(buildBigramModel().subarray(0, 8990), /runs past the end of the file/);
  });

  test('a version it does not know and a file too short for a header are refused', async () => {
    const v9 = hostileHeader();
    v9.writeUInt32LE(9, 4);
    await refused(v9, /version 9 is not supported/);
    await refused(Buffer.from('GGUF'), /too short/);
  });
});
