/**
 * `npm run bench` (third part): the headless server as clients see it, on a real `serve` process (through
 * tsx, as the tests start it), measured in one run.
 * - A soak of --soak requests (default 1000), streaming and not, with distinct prompts, on the freshly
 *   started server after as many to warm up: resident memory of the server and the inference host from the
 *   start, after the warm-up and at the end. Target: growth over the soak < 10 %.
 * - Streaming cost, 200 tokens: node-llama-cpp in-process, the local driver (host and IPC), the router,
 *   /v1 without streaming (HTTP), /v1 streaming read raw (SSE) and the official SDK streaming; each step's
 *   time shows where the per-token cost goes. Targets: streaming ≥ 0.95 of non-streaming, the SDK stream
 *   ≥ 0.9 of in-process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaChat } from 'node-llama-cpp';
import OpenAI from 'openai';
import { RoutingDriver } from '../../electron/core/router.js';
import type { ChatMessage } from '../../electron/core/types.js';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { startCli } from '../fixtures/http-client.js';
import { makeFixtureModels } from '../fixtures/models.js';
import { loadBenchModel, benchArgs, childPids, fmt, median, mib, rssOf, verdict } from './common.js';

const args = benchArgs();
const fixtures = makeFixtureModels();
const modelPath = args.model ?? writeBigramModel(join(fixtures.dir, 'bench-loop.gguf'), { words: ['tick', 'tock'], loop: true, contextLength: 4096 });
const runs = Math.max(Number(args.runs), 9);
const soakRequests = Number(args.soak);
const TOKENS = 200;
const messages: ChatMessage[] = [{ role: 'user', content: 'Once upon a time' }];

const { model, threads, contextSize } = await loadBenchModel(modelPath);
const context = await model.createContext({ contextSize, threads });
const chat = new LlamaChat({ contextSequence: context.getSequence() });
const local = new LocalDriver({ modelPath, threads, contextSize, parallel: 1, gpu: 'auto' });
const router = new RoutingDriver({ primary: local, strategy: 'local-only' });
await local.load();

const dataDir = mkdtempSync(join(tmpdir(), 'spillway-bench-serve-'));
const cli = startCli(['--model', modelPath, '--port', '0', '--data-dir', dataDir, '--strategy', 'local-only', '--parallel', '2']);
const [, url] = await cli.waitFor(/listening on (http:\/\/\S+)/);
await cli.waitFor(/Local model ready/, 120_000);
const serverPid = cli.child.pid!;
const hostPid = childPids(serverPid)[0] ?? NaN;
const sdk = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'bench', maxRetries: 0 });

console.log(`\n--- the server: a soak and the streaming cost (model ${modelPath}; threads ${threads}; ${runs} interleaved runs, medians) ---`);

function post(stream: boolean, content = messages[0]!.content as string, maxTokens = TOKENS): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }], max_tokens: maxTokens, temperature: 0, stream }),
  });
}

// --- soak ---------------------------------------------------------------------------------------------------
{
  const one = async (i: number): Promise<void> => {
    const stream = i % 2 === 1;
    const response = await post(stream, `Request ${i}: once upon a time there was ${'a '.repeat(i % 50)}`, 32);
    if (!response.ok) throw new Error(`soak: request ${i} got ${response.status}`);
    if (stream) await response.text();
    else await response.json();
  };
  // V8 sizes its heap over the first thousand or so requests (resident memory climbs, ever more slowly);
  // the soak is measured after as many warm-up requests.
  const warmUp = soakRequests;
  const total = warmUp + soakRequests;
  const sample = (at: number) => ({ at, server: rssOf(serverPid), host: rssOf(hostPid) });
  // Every 50 requests: resident memory of a Node process rises between major garbage collections and falls
  // after them, so one reading at the end can land high or low on that sawtooth.
  const samples = [sample(0)];
  const started = performance.now();
  for (let i = 0; i < total; i += 2) {
    await Promise.all([one(i), one(i + 1)]);
    if ((i + 2) % 50 === 0 || i + 2 >= total) samples.push(sample(i + 2));
  }
  const seconds = (performance.now() - started) / 1000;
  const warm = samples.find((s) => s.at >= warmUp)!;
  const end = samples.at(-1)!;
  const lastQuarter = samples.filter((s) => s.at >= warmUp + soakRequests * 0.75);
  const growth = (a: number, b: number): number => ((b - a) / a) * 100;
  console.log(`soak: ${soakRequests} requests after ${warmUp} to warm up (2 at a time, half streaming, 32 tokens, distinct prompts) in ${fmt(seconds, 1)} s`);
  console.log('requests   server RSS    host RSS');
  const shown = new Set([0, 100, Math.round(warmUp / 2 / 50) * 50, warm.at, ...[0.25, 0.5, 0.75].map((f) => warm.at + Math.round((soakRequests * f) / 50) * 50), end.at]);
  for (const s of samples.filter((x) => shown.has(x.at))) console.log(`${String(s.at).padStart(8)}   ${mib(s.server).padStart(10)}   ${mib(s.host).padStart(10)}`);
  const serverGrowth = growth(warm.server, end.server);
  const hostGrowth = growth(warm.host, end.host);
  const retained = (key: 'server' | 'host'): number => growth(warm[key], Math.min(...lastQuarter.map((s) => s[key])));
  console.log(`growth over the soak (after the warm-up), at the end: server ${fmt(serverGrowth, 1)} %, host ${fmt(hostGrowth, 1)} % (from the start: server ${fmt(growth(samples[0]!.server, end.server), 1)} %, host ${fmt(growth(samples[0]!.host, end.host), 1)} %)`);
  console.log(`lowest over the last quarter (what stays after garbage collection) against the warm-up: server ${fmt(retained('server'), 1)} %, host ${fmt(retained('host'), 1)} %`);
  console.log(`target: growth < 10 % -> ${verdict(serverGrowth < 10 && hostGrowth < 10)} at the end; ${verdict(retained('server') < 10 && retained('host') < 10)} for what stays\n`);
}

// --- streaming cost -----------------------------------------------------------------------------------------
/** Pieces of text (IPC messages, SSE events, SDK chunks) the last run of each variant received. */
const pieces: Record<string, number> = {};
const counted = (name: string) => () => void (pieces[name] = (pieces[name] ?? 0) + 1);
/** Each variant produces the same 200 tokens; it resolves with how many it got. */
const variants: Record<string, () => Promise<number>> = {
  'in-process LlamaChat': async () => {
    let tokens = 0;
    await chat.generateResponse([{ type: 'user', text: 'Once upon a time' }, { type: 'model', response: [] }], { maxTokens: TOKENS, temperature: 0, onToken: (t) => void (tokens += t.length) });
    return tokens;
  },
  'local driver (host, IPC)': async () => (await local.complete({ messages, maxTokens: TOKENS, temperature: 0, onText: counted('local driver (host, IPC)') })).usage.outputTokens,
  'router': async () => (await router.complete({ messages, maxTokens: TOKENS, temperature: 0, onText: counted('router') })).usage.outputTokens,
  '/v1 not streaming': async () => ((await (await post(false)).json()) as { usage: { completion_tokens: number } }).usage.completion_tokens,
  '/v1 streaming (raw SSE)': async () => {
    const response = await post(true);
    const text = await response.text();
    if (!text.includes('[DONE]')) throw new Error('streaming bench: the stream did not end with [DONE]');
    pieces['/v1 streaming (raw SSE)'] = text.split('\n\n').filter((e) => e.startsWith('data: ')).length;
    return TOKENS;
  },
  'OpenAI SDK streaming': async () => {
    const stream = await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let tokens = 0;
    for await (const chunk of stream) {
      counted('OpenAI SDK streaming')();
      tokens = chunk.usage?.completion_tokens ?? tokens;
    }
    return tokens;
  },
};
const times: Record<string, number[]> = {};
for (let r = 0; r <= runs; r++) {
  for (const [name, run] of Object.entries(variants)) {
    pieces[name] = 0;
    const started = performance.now();
    const tokens = await run();
    if (tokens !== TOKENS) throw new Error(`streaming bench: ${name} produced ${tokens} tokens, not ${TOKENS}`);
    if (r > 0) (times[name] ??= []).push(performance.now() - started);
  }
}
const paired = (a: string, b: string): number => median(times[a]!.map((t, i) => times[b]![i]! / t));
console.log(`variant                       ms for ${TOKENS} tokens   step cost   ratio to in-process (paired)   pieces`);
let previous: number | null = null;
for (const [name, list] of Object.entries(times)) {
  const ms = median(list);
  const step = previous === null || name === 'OpenAI SDK streaming' ? '' : `${ms - previous >= 0 ? '+' : ''}${fmt(ms - previous, 1)} ms`;
  const count = pieces[name] ? String(pieces[name]) : '';
  console.log(`${name.padEnd(29)} ${fmt(ms, 1).padStart(10)}   ${step.padStart(10)}   ${fmt(paired(name, 'in-process LlamaChat'), 3).padStart(12)}   ${count.padStart(16)}`);
  previous = ms;
}
const streamRatio = paired('/v1 streaming (raw SSE)', '/v1 not streaming');
const sdkRatio = paired('OpenAI SDK streaming', 'in-process LlamaChat');
console.log(`target: streaming >= 0.95 of not streaming -> ${verdict(streamRatio >= 0.95)} (${fmt(streamRatio, 3)})`);
console.log(`target: SDK streaming >= 0.9 of in-process -> ${verdict(sdkRatio >= 0.9)} (${fmt(sdkRatio, 3)})\n`);

cli.child.kill('SIGTERM');
await cli.exited;
await local.dispose();
await context.dispose();
await model.dispose();
rmSync(dataDir, { recursive: true, force: true });
fixtures.cleanup();
process.exit(0);
