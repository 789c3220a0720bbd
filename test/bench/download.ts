/**
 * `npm run bench:download [-- --size BYTES] [--runs N]`: the model downloader against curl, fetching the
 * same generated file from the same loopback server in the same run (interleaved runs, medians), and the
 * bytes re-sent when a download is cut at 50 % and resumes. The downloader runs with sha256 verification
 * (hashed inline and on the worker thread) and with the size check only, so the cost of each shows.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ModelDownloader } from '../../electron/services/models/downloader.js';
import { formatBytes } from '../../electron/services/models/progress.js';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '200000000' }, runs: { type: 'string', default: '3' } },
});
const runs = Number(values.runs);

const child: ChildProcess = fork(new URL('./range-server-child.ts', import.meta.url), [values.size], { execArgv: ['--import', 'tsx'] });
const ready = await nextMessage<{ origin: string; size: number; sha256: string }>('ready');
const work = mkdtempSync(join(tmpdir(), 'spillway-bench-download-'));

function nextMessage<T>(type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (message: { type: string } & T) => {
      if (message.type !== type) return;
      child.off('message', on);
      resolve(message);
    };
    child.on('message', on);
  });
}

async function stats(): Promise<{ bytesSent: number; requests: Array<{ range?: string; bytesSent: number; status: number }> }> {
  child.send({ type: 'stats' });
  return nextMessage('stats');
}

/** Seconds for curl to fetch `path` to a file. */
async function curl(path: string): Promise<number> {
  const out = join(work, 'curl.gguf');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn('curl', ['-s', '-o', out, `${ready.origin}${path}`], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited with ${code}`))));
  });
  const seconds = (performance.now() - started) / 1000;
  if (statSync(out).size !== ready.size) throw new Error('curl fetched the wrong size');
  rmSync(out);
  return seconds;
}

/** Seconds for the downloader to fetch, verify and rename `path` into a fresh models folder. */
async function ours(path: string, hashOnWorker?: boolean): Promise<number> {
  const dir = mkdtempSync(join(work, 'models-'));
  const downloader = new ModelDownloader({ dir, env: { HF_ENDPOINT: ready.origin }, ...(hashOnWorker === undefined ? {} : { hashOnWorker }) });
  const started = performance.now();
  const status = await downloader.start({ source: `${ready.origin}${path}` }).finished;
  const seconds = (performance.now() - started) / 1000;
  if (status.state !== 'done') throw new Error(`download ${status.state}: ${status.error?.message}`);
  if (statSync(status.paths[0]!).size !== ready.size) throw new Error('the downloader fetched the wrong size');
  rmSync(dir, { recursive: true });
  return seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (seconds: number): string => `${formatBytes(ready.size / seconds)}/s`;

try {
  console.log(`file: ${formatBytes(ready.size)} from ${ready.origin} (loopback), ${runs} interleaved runs each, medians\n`);
  await curl('/bench/model.gguf'); // warm-up: page cache, connection setup, JIT
  await ours('/bench/model.gguf');
  const times = { curl: [] as number[], inline: [] as number[], worker: [] as number[], sizeOnly: [] as number[] };
  for (let i = 0; i < runs; i++) {
    times.curl.push(await curl('/bench/model.gguf'));
    times.inline.push(await ours('/bench/model.gguf', false));
    times.worker.push(await ours('/bench/model.gguf', true));
    times.sizeOnly.push(await ours('/bench/unhashed.gguf'));
  }
  const curlMedian = median(times.curl);
  const row = (name: string, xs: number[]) =>
    console.log(`${name.padEnd(46)} ${rate(median(xs)).padStart(11)}  ratio to curl ${(curlMedian / median(xs)).toFixed(2)}  runs ${xs.map((s) => s.toFixed(3)).join(' / ')} s`);
  console.log(`cores: ${availableParallelism()}; the default hashes on the worker`);
  row('curl -s -o', times.curl);
  row('downloader, size + sha256, hashed inline', times.inline);
  row('downloader, size + sha256, hashed on worker', times.worker);
  row('downloader, size only (no sha256 known)', times.sizeOnly);

  // Cut at 50 %, let it resume on its own, and count what the server sent beyond one copy of the file.
  child.send({ type: 'reset' });
  child.send({ type: 'fail', fault: { kind: 'drop', afterBytes: Math.floor(ready.size / 2) } });
  await ours('/bench/model.gguf');
  const resumed = await stats();
  console.log(`\nresume after a drop at 50 %: ${resumed.requests.map((r) => `${r.range ?? 'no range'} → ${r.status}, ${formatBytes(r.bytesSent)}`).join('; ')}`);
  console.log(`bytes re-sent after the resume: ${resumed.bytesSent - ready.size} (target 0)`);
} finally {
  child.send({ type: 'close' });
  rmSync(work, { recursive: true, force: true });
}
