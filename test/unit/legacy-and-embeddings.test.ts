/**
 * The pure parts of /v1/completions and /v1/embeddings: stop texts found across pieces of streamed text,
 * base64 vectors that decode to the very floats, and the `--embedding-model` flag.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseServeArgs, UsageError } from '../../electron/server/cli-args.js';
import { embeddingsObject } from '../../electron/server/openai-embeddings.js';
import { StopTextScanner } from '../../electron/inference/stop-text.js';

function scan(stops: string[], pieces: string[]) {
  const out: string[] = [];
  const scanner = new StopTextScanner(stops);
  let found = false;
  for (const piece of pieces) {
    out.push(scanner.push(piece));
    found = scanner.stopped;
    if (found) break;
  }
  if (!found) out.push(scanner.flush());
  return { text: out.join(''), found, pieces: out.filter((p) => p !== '') };
}

describe('stop texts', () => {
  test('the text ends right before the earliest stop text, even one split across pieces or starting inside one', () => {
    assert.deepEqual(scan([' local'], ['Hello', ' from', ' the', ' local', ' model.']).text, 'Hello from the');
    assert.deepEqual(scan(['lo'], ['Hel', 'l', 'o world']).text, 'Hel');
    assert.deepEqual(scan(['END', 'wor'], ['Hello wo', 'rld END']).text, 'Hello ');
    assert.equal(scan(['\n\n'], ['a\n', '\nb']).text, 'a');
  });

  test('without a stop text everything passes, and only what may start one is held back', () => {
    const { text, found, pieces } = scan(['xyz'], ['Hello x', 'y', ' there']);
    assert.equal(text, 'Hello xy there');
    assert.equal(found, false);
    assert.equal(pieces[0], 'Hello ', 'the "x" waits until it is known not to begin "xyz"');
    assert.equal(scan([], ['a', 'b']).text, 'ab');
    assert.equal(scan([''], ['a', 'b']).text, 'ab', 'an empty stop text stops nothing');
  });
});

describe('embeddings in OpenAI’s encodings', () => {
  test('base64 is little-endian float32 and decodes to exactly the floats the float format gives', () => {
    const response = { entryId: 'local', model: 'm', vectors: [[0.1, -0.7, 1 / 3], [0, 1, -1]], usage: { inputTokens: 5 } };
    const floats = embeddingsObject(response, 'float');
    const base64 = embeddingsObject(response, 'base64');
    assert.deepEqual(floats.usage, { prompt_tokens: 5, total_tokens: 5 });
    assert.deepEqual(floats.data.map((d) => d.index), [0, 1]);
    const decoded = base64.data.map((d) => {
      const bytes = Buffer.from(d.embedding as string, 'base64');
      return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    });
    assert.deepEqual(decoded, floats.data.map((d) => d.embedding));
    assert.equal(Buffer.from(base64.data[1]!.embedding as string, 'base64').readFloatLE(4), 1);
  });
});

describe('--embedding-model', () => {
  test('sets local.embeddingModelPath beside --model; an empty one is refused by name', () => {
    const parsed = parseServeArgs(['--model', '/m.gguf', '--embedding-model', '/e.gguf'], {});
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.config.overrides.local, { modelPath: '/m.gguf', embeddingModelPath: '/e.gguf' });
    assert.throws(() => parseServeArgs(['--embedding-model', ' '], {}), (error: unknown) => error instanceof UsageError && /--embedding-model/.test(error.message));
  });
});
