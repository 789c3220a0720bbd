/**
 * The model downloader against real HTTP servers on 127.0.0.1: resume, retry, restart, pause, cancel,
 * verification, disk space, errors, Hugging Face sources and the token's reach. Nothing here touches the
 * internet: HF_ENDPOINT points at the local fake.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Agent } from 'undici';
import { downloadId, ModelDownloader, type DownloadEvent, type DownloadProgress, type ModelDownloaderOptions } from '../../electron/services/models/downloader.js';
import { hfEndpoint } from '../../electron/services/models/hf.js';
import { buildBigramModel } from '../fixtures/gguf-writer.js';
import { sha256, startRangeServer, type RangeServer } from '../fixtures/range-server.js';

const MODEL = buildBigramModel({ embeddingLength: 256, feedForwardLength: 512, layers: 4 });
const SMALL = [1, 2, 3].map((i) => buildBigramModel({ name: `part-${i}`, layers: i }));

let hf: RangeServer;
let cdn: RangeServer;
let agent: Agent;
const dirs: string[] = [];

before(async () => {
  hf = await startRangeServer();
  cdn = await startRangeServer();
  agent = new Agent();
  hf.addFile('/files/model.gguf', MODEL);
  hf.addFile('/files/plain.gguf', MODEL, { linked: false });
  hf.addFile('/files/page.gguf', Buffer.from('<!DOCTYPE html><html><body>Sign in</body></html>'));
  hf.addRepo('user/repo', {
    'model-Q4_K_M-00001-of-00003.gguf': SMALL[0]!,
    'model-Q4_K_M-00002-of-00003.gguf': SMALL[1]!,
    'model-Q4_K_M-00003-of-00003.gguf': SMALL[2]!,
    'model-Q4_K_S.gguf': MODEL,
    'model-Q8_0.gguf': MODEL,
    'mmproj-model-Q4_K_M.gguf': SMALL[0]!,
  }, { extraFiles: ['README.md'] });
  hf.addRepo('user/gated', { 'model.gguf': MODEL }, { token: 'hf_secret_token', redirectTo: cdn });
  cdn.addFile('/mirror/model.gguf', MODEL);
});

after(async () => {
  await Promise.all([hf.close(), cdn.close()]);
  await agent.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  hf.reset();
  cdn.reset();
});

function modelsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-models-'));
  dirs.push(dir);
  return dir;
}

/** Test settings: local endpoint, tiny backoff, plenty of (pretend) free space. */
function defaults(dir: string): ModelDownloaderOptions {
  return {
    dir,
    env: { HF_ENDPOINT: hf.origin },
    freeSpace: async () => 1e12,
    retry: { maxRetries: 4, baseDelayMs: 5, maxDelayMs: 40 },
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
  };
}

function downloader(dir: string, options: Partial<ModelDownloaderOptions> = {}): ModelDownloader {
  return new ModelDownloader({ ...defaults(dir), dispatcher: agent, ...options });
}

/** A forward proxy that tunnels CONNECT requests (as undici's ProxyAgent sends), recording each target. */
async function startConnectProxy(): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** The file at `path` holds exactly `expected`. */
function assertSameBytes(path: string, expected: Buffer): void {
  assert.ok(readFileSync(path).equals(expected), `${path} differs from the served file`);
}

/** Every file under `dir`, relative, sorted. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function events(d: ModelDownloader): DownloadEvent[] {
  const seen: DownloadEvent[] = [];
  d.subscribe((event) => seen.push(event));
  return seen;
}

/** Resolves with the first progress event at or past `bytes`. */
function progressPast(d: ModelDownloader, bytes: number): Promise<DownloadProgress> {
  return new Promise((resolve) => {
    const off = d.subscribe((event) => {
      if (event.type === 'progress' && event.progress.bytesDone >= bytes) {
        off();
        resolve(event.progress);
      }
    });
  });
}

describe('resume and retry', () => {
  test('a dropped connection resumes with a Range request and only the remaining bytes are sent', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'drop', afterBytes: 3_000_000 });
    const status = await downloader(dir).start({ source: hf.url('/files/model.gguf') }).finished;

    assert.equal(status.state, 'done', status.error?.message);
    const [first, second, ...rest] = hf.fileRequests('/files/model.gguf');
    assert.equal(rest.length, 0);
    assert.equal(first!.range, undefined);
    assert.equal(first!.bytesSent, 3_000_000);
    assert.equal(second!.range, 'bytes=3000000-');
    assert.equal(second!.status, 206);
    assert.equal(hf.bytesSent('/files/model.gguf'), MODEL.length, 'no byte was sent twice');
    assert.deepEqual(filesIn(dir), ['model.gguf']);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);
    assert.deepEqual(status.paths, [join(dir, 'model.gguf')]);
  });

  test('a 500 is retried automatically', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'status', status: 500 }, { kind: 'status', status: 503 });
    const status = await downloader(dir).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.deepEqual(hf.fileRequests().map((r) => r.status), [500, 503, 200]);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);
  });

  test('a stalled body times out and resumes where it stopped', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'stall', afterBytes: 1_000_000 });
    const status = await downloader(dir, { bodyTimeoutMs: 300 }).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.deepEqual(hf.fileRequests().map((r) => r.range), [undefined, 'bytes=1000000-']);
  });

  test('persistent failures give up with a clear error and keep the partial for later', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'drop', afterBytes: 500_000 });
    hf.setFaultHandler((r) => (r.method === 'GET' && r.range ? { kind: 'status', status: 502 } : undefined));
    const status = await downloader(dir, { retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 } }).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'failed');
    assert.equal(status.error?.reason, 'server');
    assert.match(status.error!.message, /HTTP 502/);
    assert.equal(status.resumable, true);
    assert.equal(status.bytesDone, 500_000);
    assert.ok(filesIn(dir).some((f) => f.endsWith('model.gguf.part')), 'the partial bytes stay for a later resume');
  });

  test('a server that ignores Range starts over from zero', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'drop', afterBytes: 2_000_000 }, { kind: 'no-range' });
    const status = await downloader(dir).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    const [, second] = hf.fileRequests();
    assert.equal(second!.range, 'bytes=2000000-');
    assert.equal(second!.status, 200);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);
  });

  test('a download survives an app restart: a new instance reads .partial and continues', async () => {
    const dir = modelsDir();
    const first = downloader(dir);
    hf.failNext({ kind: 'slow', bytesPerSecond: 8_000_000 });
    const task = first.start({ source: hf.url('/files/model.gguf') });
    await progressPast(first, 2_000_000);
    await first.close(); // the app quits
    assert.equal((await task.finished).state, 'paused');
    const meta = join(dir, '.partial', task.id, 'download.json');
    const record = JSON.parse(readFileSync(meta, 'utf8'));
    const onDisk = readFileSync(join(dir, '.partial', task.id, 'model.gguf.part')).length;
    assert.ok(onDisk >= 2_000_000 && onDisk < MODEL.length, `${onDisk} bytes on disk: some, not all`);
    // A crash would have left an older checkpoint: the bytes on disk must win over the record.
    record.parts[0].done = 0;
    writeFileSync(meta, JSON.stringify(record));

    hf.reset();
    const second = downloader(dir);
    const restored = await second.restore();
    assert.equal(restored.length, 1);
    assert.equal(restored[0]!.state, 'paused');
    assert.equal(restored[0]!.bytesDone, onDisk);
    assert.equal(restored[0]!.totalBytes, MODEL.length);
    const status = await second.resume(task.id).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.deepEqual(hf.fileRequests().map((r) => r.range), [`bytes=${onDisk}-`]);
    assert.equal(hf.fileRequests()[0]!.ifRange, record.parts[0].etag, 'If-Range carries the ETag');
    assert.deepEqual(filesIn(dir), ['model.gguf']);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);
  });

  test('pause keeps the partial; resume continues from it', async () => {
    const dir = modelsDir();
    const d = downloader(dir);
    const seen = events(d);
    hf.failNext({ kind: 'slow', bytesPerSecond: 10_000_000 });
    const task = d.start({ source: hf.url('/files/model.gguf') });
    await progressPast(d, 3_000_000);
    const progress = seen.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
    const paused = await d.pause(task.id);
    assert.equal(paused.state, 'paused');
    assert.equal(paused.resumable, true);
    const partial = readFileSync(join(dir, '.partial', task.id, 'model.gguf.part')).length;
    assert.equal(paused.bytesDone, partial);
    assert.ok(!existsSync(join(dir, 'model.gguf')), 'no model file while paused');

    const status = await d.resume(task.id).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.equal(hf.fileRequests().at(-1)!.range, `bytes=${partial}-`);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);

    const states = seen.filter((e) => e.type === 'state').map((e) => e.status.state);
    assert.deepEqual(states, ['queued', 'downloading', 'paused', 'queued', 'downloading', 'verifying', 'done']);
    // What a progress bar shows, from the throttled first part of the download.
    const last = progress.at(-1)!;
    assert.ok(progress.length >= 2, `${progress.length} progress events`);
    assert.ok(last.percent! > 20 && last.percent! < 100, `${last.percent} %`);
    assert.equal(last.totalBytes, MODEL.length);
    assert.ok(last.speed > 2_000_000 && last.speed < 30_000_000, `speed ${last.speed} B/s near the 10 MB/s throttle`);
    assert.ok(last.etaSeconds! >= 1 && last.etaSeconds! < 10, `eta ${last.etaSeconds} s`);
  });

  test('progress events come at most every ~100 ms', async () => {
    const dir = modelsDir();
    const d = downloader(dir);
    const times: number[] = [];
    d.subscribe((e) => e.type === 'progress' && times.push(performance.now()));
    hf.failNext({ kind: 'slow', bytesPerSecond: 20_000_000 });
    await d.start({ source: hf.url('/files/model.gguf') }).finished;
    assert.ok(times.length >= 3, `${times.length} progress events`);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.min(...gaps) >= 95, `gaps ${gaps.map(Math.round).join(',')}`);
  });
});

describe('verification', () => {
  test('a checksum mismatch is caught and leaves nothing behind', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'corrupt' });
    const status = await downloader(dir).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'failed');
    assert.equal(status.error?.reason, 'corrupt');
    assert.match(status.error!.message, /model\.gguf failed its checksum: the download was corrupted or the file changed.*removed/);
    assert.deepEqual(filesIn(dir), []);
    assert.ok(!existsSync(join(dir, '.partial')), 'no .partial folder is left');
  });

  test('hashing inline (instead of on the worker) verifies the same way', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'drop', afterBytes: 1_000_000 });
    const good = await downloader(dir, { hashOnWorker: false }).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(good.state, 'done', good.error?.message);
    hf.failNext({ kind: 'corrupt' });
    const bad = await downloader(modelsDir(), { hashOnWorker: false }).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(bad.error?.reason, 'corrupt');
  });

  test('a catalog sha256 is checked too', async () => {
    const dir = modelsDir();
    const status = await downloader(dir)
      .start({ source: hf.url('/files/plain.gguf'), expected: [{ file: 'plain.gguf', sha256: 'a'.repeat(64) }] })
      .finished;
    assert.equal(status.error?.reason, 'corrupt');
    assert.deepEqual(filesIn(dir), []);
  });

  test('a size that disagrees with the catalog is refused before any byte', async () => {
    const dir = modelsDir();
    const status = await downloader(dir)
      .start({ source: hf.url('/files/plain.gguf'), expected: [{ file: 'plain.gguf', sizeBytes: MODEL.length + 10 }] })
      .finished;
    assert.equal(status.error?.reason, 'corrupt');
    assert.match(status.error!.message, new RegExp(`${MODEL.length} bytes on the server but ${MODEL.length + 10} bytes were expected`));
    assert.equal(hf.bytesSent(), 0);
    assert.deepEqual(filesIn(dir), []);
  });

  test('a body that disagrees with the advertised size fails and leaves nothing', async () => {
    const dir = modelsDir();
    hf.failNext({ kind: 'linked-size', size: MODEL.length + 4096 });
    const status = await downloader(dir).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.error?.reason, 'corrupt');
    assert.match(status.error!.message, /bytes were expected/);
    assert.deepEqual(filesIn(dir), []);
  });

  test('a file that is not GGUF is refused and removed', async () => {
    const dir = modelsDir();
    const status = await downloader(dir).start({ source: hf.url('/files/page.gguf') }).finished;
    assert.equal(status.state, 'failed');
    assert.equal(status.error?.reason, 'not_gguf');
    assert.match(status.error!.message, /page\.gguf is not a GGUF model file \(it starts with "<!DO"\)/);
    assert.deepEqual(filesIn(dir), []);
  });
});

describe('cancel, disk space and errors', () => {
  test('cancel leaves nothing: no partial, no record, no model', async () => {
    const dir = modelsDir();
    const d = downloader(dir);
    hf.failNext({ kind: 'slow', bytesPerSecond: 8_000_000 });
    const task = d.start({ source: hf.url('/files/model.gguf') });
    await progressPast(d, 1_000_000);
    assert.ok(existsSync(join(dir, '.partial', task.id, 'download.json')), 'the record exists while downloading');
    const status = await d.cancel(task.id);
    assert.equal(status.state, 'cancelled');
    assert.equal((await task.finished).state, 'cancelled');
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a paused download can be cancelled too', async () => {
    const dir = modelsDir();
    const d = downloader(dir);
    hf.failNext({ kind: 'slow', bytesPerSecond: 8_000_000 });
    const task = d.start({ source: hf.url('/files/model.gguf') });
    await progressPast(d, 500_000);
    await d.pause(task.id);
    assert.equal((await d.cancel(task.id)).state, 'cancelled');
    assert.deepEqual(readdirSync(dir), []);
  });

  test('too little disk space is refused before any byte, with the numbers', async () => {
    const dir = modelsDir();
    const status = await downloader(dir, { freeSpace: async () => 2_500_000 }).start({ source: hf.url('/files/model.gguf') }).finished;
    assert.equal(status.state, 'failed');
    assert.equal(status.error?.reason, 'no_space');
    assert.match(status.error!.message, /Not enough disk space for model\.gguf: it needs 11\.2 MB \(plus 67\.1 MB to spare\) but only 2\.50 MB is free/);
    assert.equal(hf.bytesSent(), 0);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a disk that fills up mid-write fails with "disk full" and removes the partial', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, async () => {
    const dir = modelsDir();
    const source = hf.url('/files/model.gguf');
    // The part file is a link to /dev/full, where every write fails with ENOSPC.
    mkdirSync(join(dir, '.partial', downloadId(source)), { recursive: true });
    symlinkSync('/dev/full', join(dir, '.partial', downloadId(source), 'model.gguf.part'));
    const status = await downloader(dir).start({ source }).finished;
    assert.equal(status.error?.reason, 'disk_full');
    assert.match(status.error!.message, /The disk filled up while downloading model\.gguf; the partial download was removed/);
    assert.deepEqual(readdirSync(dir), []);
    assert.ok(existsSync('/dev/full'), 'removing the partial removed the link, not /dev/full');
  });

  test('a missing file is a clear "not found" and leaves nothing', async () => {
    const dir = modelsDir();
    const status = await downloader(dir).start({ source: hf.url('/files/nope.gguf') }).finished;
    assert.equal(status.error?.code, 'NOT_FOUND');
    assert.match(status.error!.message, /nope\.gguf was not found/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a gated repository without a token says a token is needed, and leaves nothing', async () => {
    const dir = modelsDir();
    const status = await downloader(dir).start({ source: 'hf:user/gated/model.gguf' }).finished;
    assert.equal(status.error?.code, 'AUTH');
    assert.match(status.error!.message, /Hugging Face refused access to model\.gguf \(HTTP 401\).*add a Hugging Face token/);
    assert.deepEqual(readdirSync(dir), []);

    const wrong = await downloader(dir, { hfToken: 'hf_wrong' }).start({ source: 'hf:user/gated/model.gguf' }).finished;
    assert.match(wrong.error!.message, /token has no access/);
  });

  test('a bad source is refused at once', () => {
    const d = downloader(modelsDir());
    assert.throws(() => d.start({ source: 'hf:user' }), /names no model/);
    assert.throws(() => d.start({ source: 'http://example.com/model.gguf' }), /must be an https:\/\/ URL/);
    assert.throws(() => d.start({ source: 'https://example.com/readme.txt' }), /not a \.gguf file name/);
  });
});

describe('Hugging Face sources', () => {
  test('hf:user/repo:Q4_K_M resolves every part of a split model and verifies each', async () => {
    const dir = modelsDir();
    const status = await downloader(dir).start({ source: 'hf:user/repo:Q4_K_M' }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    const names = ['model-Q4_K_M-00001-of-00003.gguf', 'model-Q4_K_M-00002-of-00003.gguf', 'model-Q4_K_M-00003-of-00003.gguf'];
    assert.deepEqual(filesIn(dir), names);
    names.forEach((name, i) => assertSameBytes(join(dir, name), SMALL[i]!));
    assert.equal(status.totalBytes, SMALL.reduce((sum, b) => sum + b.length, 0));
    assert.ok(hf.requests.some((r) => r.path === '/api/models/user/repo'), 'the model API was asked for the file list');
    assert.equal(hf.requests.filter((r) => r.method === 'HEAD').length, 0, 'the API gave sizes and hashes');
  });

  test('naming one part of a split model (as a catalog does) downloads every part, with the catalog facts', async () => {
    const dir = modelsDir();
    const names = ['model-Q4_K_M-00001-of-00003.gguf', 'model-Q4_K_M-00002-of-00003.gguf', 'model-Q4_K_M-00003-of-00003.gguf'];
    const expected = names.map((file, i) => ({ file, sizeBytes: SMALL[i]!.length, sha256: sha256(SMALL[i]!) }));
    const status = await downloader(dir).start({ source: `hf:user/repo/${names[0]}`, expected }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.deepEqual(filesIn(dir), names);
    names.forEach((name, i) => assertSameBytes(join(dir, name), SMALL[i]!));
    assert.equal(hf.requests.filter((r) => r.method === 'HEAD').length, 0, 'the catalog gave sizes and hashes');
  });

  test('a split model is renamed into place only once every part is verified', async () => {
    const dir = modelsDir();
    hf.setFaultHandler((r) => (r.path.endsWith('00003-of-00003.gguf') && r.method === 'GET' ? { kind: 'corrupt', offset: 100 } : undefined));
    const status = await downloader(dir).start({ source: 'hf:user/repo:q4_k_m' }).finished;
    assert.equal(status.error?.reason, 'corrupt');
    assert.deepEqual(filesIn(dir), [], 'the two good parts did not become models either');
  });

  test('hf:user/repo/file.gguf follows the redirect; the token goes to the HF endpoint only', async () => {
    const dir = modelsDir();
    const status = await downloader(dir, { hfToken: () => 'hf_secret_token' }).start({ source: 'hf:user/gated/model.gguf' }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assertSameBytes(join(dir, 'model.gguf'), MODEL);
    const hfSeen = hf.requests.filter((r) => r.path.startsWith('/user/gated/'));
    assert.ok(hfSeen.length >= 2 && hfSeen.every((r) => r.authorization === 'Bearer hf_secret_token'), 'every request to the HF endpoint carries the token');
    assert.ok(cdn.requests.length >= 2, 'the bytes came from the CDN');
    assert.ok(cdn.requests.every((r) => r.authorization === undefined), 'the CDN never sees the token');
    assert.equal(cdn.bytesSent(), MODEL.length);
  });

  test('the sha256 from x-linked-etag on the redirect is checked against the CDN bytes', async () => {
    const dir = modelsDir();
    cdn.failNext({ kind: 'corrupt' });
    const status = await downloader(dir, { hfToken: 'hf_secret_token' }).start({ source: 'hf:user/gated/model.gguf' }).finished;
    assert.equal(status.error?.reason, 'corrupt');
    assert.deepEqual(filesIn(dir), []);
  });

  test('the token is never sent to another host', async () => {
    const dir = modelsDir();
    const status = await downloader(dir, { hfToken: 'hf_secret_token' }).start({ source: cdn.url('/mirror/model.gguf') }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.ok(cdn.requests.length >= 2 && cdn.requests.every((r) => r.authorization === undefined), 'no Authorization header reached the other host');
  });

  test('HTTPS_PROXY/HTTP_PROXY route the download through the proxy (undici EnvHttpProxyAgent)', async () => {
    const proxy = await startConnectProxy();
    try {
      const dir = modelsDir();
      const d = new ModelDownloader({ ...defaults(dir), env: { HF_ENDPOINT: hf.origin, HTTP_PROXY: proxy.url } });
      const status = await d.start({ source: hf.url('/files/model.gguf') }).finished;
      assert.equal(status.state, 'done', status.error?.message);
      assert.ok(proxy.tunnels.length >= 1 && proxy.tunnels.every((t) => t === `127.0.0.1:${hf.port}`), proxy.tunnels.join());

      const bypass = new ModelDownloader({ ...defaults(modelsDir()), env: { HF_ENDPOINT: hf.origin, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
      const before = proxy.tunnels.length;
      assert.equal((await bypass.start({ source: hf.url('/files/model.gguf') }).finished).state, 'done');
      assert.equal(proxy.tunnels.length, before, 'NO_PROXY is honoured');
    } finally {
      await proxy.close();
    }
  });

  test('HF_ENDPOINT is honoured', async () => {
    assert.equal(hfEndpoint({}), 'https://huggingface.co');
    assert.equal(hfEndpoint({ HF_ENDPOINT: `${hf.origin}/` }), hf.origin);
    assert.throws(() => hfEndpoint({ HF_ENDPOINT: 'http://mirror.example.com' }), /https/);
    const dir = modelsDir();
    const status = await downloader(dir, { env: { HF_ENDPOINT: cdn.origin } }).start({ source: 'hf:user/repo:Q8_0' }).finished;
    assert.equal(status.error?.code, 'NOT_FOUND', 'the repository is looked up on the configured endpoint');
    assert.ok(cdn.requests.some((r) => r.path === '/api/models/user/repo'), 'the API call went to HF_ENDPOINT');
    assert.equal(hf.requests.length, 0);
  });

  test('a quant with no file lists what the repository has', async () => {
    const status = await downloader(modelsDir()).start({ source: 'hf:user/repo:IQ2_XS' }).finished;
    assert.equal(status.error?.reason, 'not_found');
    assert.match(status.error!.message, /No GGUF file for IQ2_XS in user\/repo\. It has: .*model-Q8_0\.gguf/);
  });

  test('sha256 of the downloaded model matches the served file', async () => {
    const dir = modelsDir();
    const status = await downloader(dir).start({ source: 'hf:user/repo:Q8_0' }).finished;
    assert.equal(status.state, 'done', status.error?.message);
    assert.equal(sha256(readFileSync(join(dir, 'model-Q8_0.gguf'))), sha256(MODEL));
  });
});
