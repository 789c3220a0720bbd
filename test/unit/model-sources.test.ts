/** Model source strings and the choice of files for a quantization, without any network. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hfFileUrl, parseModelSource, pickQuantFiles, splitParts } from '../../electron/services/models/hf.js';
import { lfsSha256, parseContentRange } from '../../electron/services/models/http.js';
import { formatBytes, SpeedMeter } from '../../electron/services/models/progress.js';

describe('parseModelSource', () => {
  test('reads the three kinds of source', () => {
    assert.deepEqual(parseModelSource('hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M'), { kind: 'hf-quant', repo: 'bartowski/Qwen2.5-0.5B-Instruct-GGUF', quant: 'Q4_K_M' });
    assert.deepEqual(parseModelSource('hf:user/repo/sub/dir/model-Q8_0.gguf'), { kind: 'hf-file', repo: 'user/repo', file: 'sub/dir/model-Q8_0.gguf' });
    const url = parseModelSource('https://example.com/models/tiny.gguf?download=1');
    assert.equal(url.kind, 'url');
    assert.equal(parseModelSource('http://127.0.0.1:8080/tiny.gguf').kind, 'url');
  });

  test('refuses what it cannot download safely', () => {
    assert.throws(() => parseModelSource('hf:user/repo'), /names no model/);
    assert.throws(() => parseModelSource('hf:user/repo/../x.gguf'), /not a file path/);
    assert.throws(() => parseModelSource('hf:user/repo/readme.md'), /not a \.gguf file name/);
    assert.throws(() => parseModelSource('http://192.168.1.2/x.gguf'), /https/);
    assert.throws(() => parseModelSource('ftp://host/x.gguf'), /Unknown model source/);
    assert.throws(() => parseModelSource('https://host/.hidden.gguf'), /not a \.gguf file name/);
  });

  test('file URLs escape each path segment', () => {
    assert.equal(hfFileUrl('https://huggingface.co', 'u/r', 'Q4 K/m#1.gguf'), 'https://huggingface.co/u/r/resolve/main/Q4%20K/m%231.gguf');
  });
});

describe('pickQuantFiles', () => {
  const files = [
    'model-Q4_K.gguf', 'model-Q4_K_M.gguf', 'model-q8_0.gguf', 'mmproj-model-Q4_K_M.gguf', 'README.md',
    'Q5_K_M/model-Q5_K_M-00002-of-00002.gguf', 'Q5_K_M/model-Q5_K_M-00001-of-00002.gguf',
  ];

  test('a whole-name match wins over a substring, case-insensitively', () => {
    assert.deepEqual(pickQuantFiles(files, 'Q4_K', 'u/r'), ['model-Q4_K.gguf']);
    assert.deepEqual(pickQuantFiles(files, 'q4_k_m', 'u/r'), ['model-Q4_K_M.gguf']);
    assert.deepEqual(pickQuantFiles(files, 'Q8_0', 'u/r'), ['model-q8_0.gguf']);
  });

  test('a split model gives every part, in order', () => {
    assert.deepEqual(pickQuantFiles(files, 'Q5_K_M', 'u/r'), ['Q5_K_M/model-Q5_K_M-00001-of-00002.gguf', 'Q5_K_M/model-Q5_K_M-00002-of-00002.gguf']);
  });

  test('missing parts, ambiguity and no match are errors that say what is there', () => {
    assert.throws(() => pickQuantFiles(['m-Q4_0-00001-of-00003.gguf', 'm-Q4_0-00003-of-00003.gguf'], 'Q4_0', 'u/r'), /lists 2 of the 3 parts/);
    assert.throws(() => pickQuantFiles(['a-Q4_0.gguf', 'b-Q4_0.gguf'], 'Q4_0', 'u/r'), /matches several models in u\/r: a-Q4_0\.gguf, b-Q4_0\.gguf/);
    assert.throws(() => pickQuantFiles(files, 'IQ1_S', 'u/r'), /No GGUF file for IQ1_S in u\/r\. It has: model-Q4_K\.gguf/);
  });
});

describe('splitParts', () => {
  test('any part of a split model names the whole set; other files stay single', () => {
    assert.deepEqual(splitParts('Q8_0/m-Q8_0-00002-of-00003.GGUF'), ['Q8_0/m-Q8_0-00001-of-00003.GGUF', 'Q8_0/m-Q8_0-00002-of-00003.GGUF', 'Q8_0/m-Q8_0-00003-of-00003.GGUF']);
    assert.deepEqual(splitParts('m-Q4_K_M.gguf'), ['m-Q4_K_M.gguf']);
  });
});

describe('download helpers', () => {
  test('x-linked-etag is a sha256 only when it looks like one', () => {
    assert.equal(lfsSha256(`"${'AB'.repeat(32)}"`), 'ab'.repeat(32));
    assert.equal(lfsSha256('"abc123"'), null);
    assert.equal(lfsSha256(undefined), null);
  });

  test('Content-Range', () => {
    assert.deepEqual(parseContentRange('bytes 100-199/1000'), { start: 100, total: 1000 });
    assert.deepEqual(parseContentRange('bytes */1000'), { start: null, total: 1000 });
    assert.equal(parseContentRange('nonsense'), null);
  });

  test('bytes in words', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(4_370_000_000), '4.37 GB');
    assert.equal(formatBytes(67_108_864), '67.1 MB');
  });

  test('speed over a sliding window falls when nothing arrives', () => {
    const meter = new SpeedMeter(2000);
    for (let t = 0; t <= 2000; t += 100) meter.add(1_000_000, t);
    assert.ok(Math.abs(meter.speed(2000) - 10_000_000) < 600_000, `${meter.speed(2000)} B/s for 1 MB per 100 ms`);
    assert.equal(meter.speed(10_000), 0);
  });
});
