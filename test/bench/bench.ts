/**
 * `npm run bench [-- --model PATH] [--tokens N] [--runs R] [--first-token-timeout MS] [--soak N]`: what the
 * stack costs, measured in one run (this part; engine.ts and server.ts follow with the same flags).
 * Figures are medians over interleaved runs, so a noisy neighbour hurts every variant alike.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { LlamaChat } from 'node-llama-cpp';
import { RoutingDriver } from '../../electron/core/router.js';
import { messageText, type ChatMessage, type CompletionRequest, type CompletionResponse, type LlmDriver } from '../../electron/core/types.js';
import { forkHostLauncher, type HostHandle } from '../../electron/drivers/host-process.js';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { RemoteDriver } from '../../electron/drivers/remote-driver.js';
import { startFakeOpenAI } from '../fixtures/fake-openai-server.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { makeFixtureModels } from '../fixtures/models.js';
import { isRunning } from '../fixtures/processes.js';
import { benchArgs, fmt, loadBenchModel, median } from './common.js';

const values = benchArgs();
const fixtures = makeFixtureModels();
// The default workload: the generated looping model with room for long answers.
const modelPath = values.model ?? writeBigramModel(join(fixtures.dir, 'bench-loop.gguf'), { words: ['tick', 'tock'], loop: true, contextLength: 4096 });
const maxTokens = Number(values.tokens);
const runs = Number(values.runs);
const messages: ChatMessage[] = [{ role: 'user', content: 'Once upon a time' }];

interface Sample {
  tokensPerSecond: number;
  ttftMs: number;
  outputTokens: number;
}

const rate = (tokens: number, totalMs: number, ttftMs: number): number => ((tokens - 1) * 1000) / Math.max(1e-6, totalMs - ttftMs);

// --- node-llama-cpp in-process: the limit -------------------------------------------------------------
const { llama, model, threads: chosenThreads, contextSize } = await loadBenchModel(modelPath);

async function inProcessRunner(threads: number | undefined) {
  const context = await model.createContext({ contextSize, ...(threads === undefined ? {} : { threads }) });
  const chat = new LlamaChat({ contextSequence: context.getSequence() });
  /** `budgetMs` bounds a run by time: oversubscribed thread counts can be hundreds of times slower. */
  const run = async (budgetMs?: number): Promise<Sample> => {
    const started = performance.now();
    let first = 0;
    let tokens = 0;
    const signal = budgetMs === undefined ? undefined : AbortSignal.timeout(budgetMs);
    try {
      await chat.generateResponse([{ type: 'user', text: messageText(messages[0]!) }, { type: 'model', response: [] }], {
        maxTokens,
        temperature: 0,
        ...(signal ? { signal, stopOnAbortSignal: true } : {}),
        onToken: (t) => {
          if (tokens === 0) first = performance.now() - started;
          tokens += t.length;
        },
      });
    } catch (error) {
      // A budget that runs out while the prompt is still being read ends the run with what it produced.
      if (!signal?.aborted) throw error;
    }
    const total = performance.now() - started;
    return { tokensPerSecond: rate(tokens, total, first), ttftMs: first, outputTokens: tokens };
  };
  return { run, threads: context.currentThreads, dispose: () => context.dispose() };
}

function fromResponse(r: CompletionResponse): Sample {
  const ttft = r.timings.timeToFirstTokenMs ?? NaN;
  return { tokensPerSecond: rate(r.usage.outputTokens, r.timings.totalMs, ttft), ttftMs: ttft, outputTokens: r.usage.outputTokens };
}

const cloud = await startFakeOpenAI({ reply: 'A short answer from the loopback cloud used for the spillover figure.' });
const remote = new RemoteDriver({ baseURL: cloud.baseURL, model: 'bench-cloud', apiKey: 'bench' });
const local = new LocalDriver({ modelPath, threads: chosenThreads, contextSize, gpu: 'auto' });
// The same local driver under the router, so the two rows differ only by the routing layer.
const router = new RoutingDriver({ primary: local, fallback: remote });
const inProcess = await inProcessRunner(chosenThreads);
const info = await local.load();

console.log(`model      ${modelPath}`);
console.log(`backend    ${info.backend}${info.devices.length ? ` (${info.devices.join(', ')})` : ''}; threads ${chosenThreads} (default chosen by Spillway); context ${contextSize}`);
console.log(`workload   ${maxTokens} tokens max, temperature 0, ${runs} interleaved runs (+1 warm-up), medians\n`);

const variants: Record<'in-process' | 'local driver' | 'router', () => Promise<Sample>> = {
  'in-process': () => inProcess.run(),
  'local driver': async () => fromResponse(await local.complete({ messages, maxTokens, temperature: 0 })),
  router: async () => fromResponse(await router.complete({ messages, maxTokens, temperature: 0 })),
};
const samples: Record<string, Sample[]> = { 'in-process': [], 'local driver': [], router: [] };
for (let r = 0; r <= runs; r++) {
  for (const [name, run] of Object.entries(variants)) {
    const s = await run();
    if (r > 0) samples[name]!.push(s);
  }
}
// Ratios are paired: each run's figure over the in-process figure of the same round, then the median, so
// a slow spell on this shared machine affects both sides of a ratio alike.
const pairedRatio = (name: string): number =>
  median(samples[name]!.map((s, i) => s.tokensPerSecond / samples['in-process']![i]!.tokensPerSecond));
console.log('variant        tok/s     ttft ms   ratio to limit (paired)');
for (const [name, list] of Object.entries(samples)) {
  const tps = median(list.map((s) => s.tokensPerSecond));
  const ttft = median(list.map((s) => s.ttftMs));
  const tokens = median(list.map((s) => s.outputTokens));
  console.log(`${name.padEnd(14)} ${fmt(tps).padStart(8)}  ${fmt(ttft, 2).padStart(8)}   ${fmt(pairedRatio(name), 3)}   (${tokens} tokens)`);
}
const ratios = ['local driver', 'router'].map(pairedRatio);
console.log(`target: stack ratios >= 0.95 -> ${ratios.every((x) => x >= 0.95) ? 'met' : 'MISSED'} (${ratios.map((x) => fmt(x, 3)).join(', ')})\n`);

// --- spillover overhead through a three-entry route ------------------------------------------------
/** Wraps an entry that fails, to timestamp the moment it reports its failure. */
class Stopwatch implements LlmDriver {
  failedAt = 0;
  readonly id: string;
  constructor(private readonly inner: LlmDriver) {
    this.id = inner.id;
  }
  modelName = (): string => this.inner.modelName();
  contextWindow = (): number => this.inner.contextWindow();
  privacyTier = () => this.inner.privacyTier();
  capabilities = () => this.inner.capabilities?.() ?? [];
  async complete(request: CompletionRequest): Promise<CompletionResponse> {
    try {
      return await this.inner.complete(request);
    } catch (error) {
      this.failedAt = performance.now();
      throw error;
    }
  }
}
// A LAN server that answers every request with HTTP 503: the second entry fails over the network, for real.
const lanServer = await startFakeOpenAI();
lanServer.setFaultHandler(() => ({ status: 503 }));
const brokenLocal = new Stopwatch(new LocalDriver({ id: 'local', modelPath: join(fixtures.dir, 'missing.gguf') }));
const failingLan = new Stopwatch(new RemoteDriver({ id: 'lan', baseURL: lanServer.baseURL, model: 'lan-model' }));
// The breakers would skip the failing entries after three tries; this figure is about the spillover path.
const spillRouter = new RoutingDriver({
  route: [{ driver: brokenLocal, kind: 'local' }, { driver: failingLan, kind: 'remote' }, { driver: remote, kind: 'remote' }],
  circuitBreaker: { threshold: Number.POSITIVE_INFINITY },
});
const cloudTtft: number[] = [];
const hops: number[] = [];
const endToEnd: number[] = [];
for (let r = 0; r <= runs * 2; r++) {
  const t0 = performance.now();
  let first = 0;
  await remote.complete({ messages, onText: () => (first ||= performance.now()) });
  if (r > 0) cloudTtft.push(first - t0);
  let firstRouted = 0;
  brokenLocal.failedAt = 0;
  failingLan.failedAt = 0;
  const started = performance.now();
  const routed = await spillRouter.complete({ messages, onText: () => (firstRouted ||= performance.now()) });
  if (routed.entryId !== remote.id) throw new Error('spillover bench: the route did not reach its third entry');
  if (!brokenLocal.failedAt || !failingLan.failedAt) throw new Error('spillover bench: an entry was not tried');
  if (r > 0) {
    hops.push(firstRouted - failingLan.failedAt);
    endToEnd.push(firstRouted - started);
  }
}
const overhead = median(hops) - median(cloudTtft);
console.log(`spillover (local -> LAN 503 -> cloud): LAN failure -> cloud first text ${fmt(median(hops), 2)} ms; the cloud's own ttft ${fmt(median(cloudTtft), 2)} ms; request start -> first text ${fmt(median(endToEnd), 2)} ms`);
console.log(`target: spillover overhead <= 10 ms -> ${overhead <= 10 ? 'met' : 'MISSED'} (${fmt(overhead, 2)} ms)\n`);
await lanServer.close();

// --- a stopped local host -> the next entry's first text ----------------------------------------------
{
  const firstTokenTimeoutMs = Number(values['first-token-timeout']);
  const hosts: HostHandle[] = [];
  const fork = forkHostLauncher();
  const frozenLocal = new LocalDriver({ modelPath, threads: chosenThreads, contextSize, gpu: 'auto', launcher: () => {
    const host = fork();
    hosts.push(host);
    return host;
  } });
  const stuckRouter = new RoutingDriver({
    route: [{ driver: frozenLocal, kind: 'local' }, { driver: remote, kind: 'remote' }],
    firstTokenTimeoutMs,
    circuitBreaker: { threshold: Number.POSITIVE_INFINITY },
  });
  const waits: number[] = [];
  for (let r = 0; r < Math.min(runs, 3); r++) {
    await frozenLocal.load();
    const host = hosts.at(-1)!;
    process.kill(host.pid!, 'SIGSTOP');
    const started = performance.now();
    let first = 0;
    const routed = await stuckRouter.complete({ messages, onText: () => (first ||= performance.now()) });
    if (routed.entryId !== remote.id) throw new Error('stopped-host bench: the route did not move on');
    waits.push(first - started);
    // The driver kills a host that does not answer its ping; make sure before the next round.
    for (let i = 0; i < 200 && hosts.length > 0 && isRunning(host.pid!); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    if (isRunning(host.pid!)) process.kill(host.pid!, 'SIGKILL');
  }
  await frozenLocal.dispose();
  const limit = firstTokenTimeoutMs + 1000;
  console.log(`stopped local host: request -> the cloud's first text ${fmt(median(waits), 0)} ms (max ${fmt(Math.max(...waits), 0)}) with a ${firstTokenTimeoutMs} ms first-token timeout, over ${waits.length} runs`);
  console.log(`target: <= first-token timeout + 1 s (${limit} ms) -> ${Math.max(...waits) <= limit ? 'met' : 'MISSED'}\n`);
}

// --- cancel latency ---------------------------------------------------------------------------------
const stops: number[] = [];
for (let r = 0; r < runs; r++) {
  const controller = new AbortController();
  let abortedAt = 0;
  let pieces = 0;
  const done = local.complete({
    messages,
    maxTokens: 100_000 > contextSize ? undefined : 100_000,
    onText: () => {
      if (++pieces === 5) {
        abortedAt = performance.now();
        controller.abort();
      }
    },
    signal: controller.signal,
  });
  const response = await done;
  if (abortedAt && response.stopReason === 'aborted') stops.push(performance.now() - abortedAt);
}
console.log(`cancel: abort -> partial answer returned ${fmt(median(stops), 2)} ms (max ${fmt(Math.max(...stops), 2)}) over ${stops.length} runs`);
console.log(`target: abort within 100 ms -> ${stops.length > 0 && Math.max(...stops) <= 100 ? 'met' : 'MISSED'}\n`);

// --- thread sweep -------------------------------------------------------------------------------------
await inProcess.dispose();
const logical = availableParallelism();
const counts = [...new Set([1, 2, Math.max(1, Math.floor(logical / 2)), logical, llama.cpuMathCores, undefined as number | undefined])];
const sweep: { label: string; threads: number; tps: number }[] = [];
for (const threads of counts) {
  const runner = await inProcessRunner(threads);
  const list: number[] = [];
  for (let r = 0; r <= Math.min(runs, 3); r++) {
    const s = await runner.run(3000);
    if (r > 0) list.push(s.tokensPerSecond);
  }
  sweep.push({ label: threads === undefined ? `${runner.threads} (node-llama-cpp default)` : String(runner.threads), threads: runner.threads, tps: median(list) });
  await runner.dispose();
}
const best = Math.max(...sweep.map((s) => s.tps));
console.log('threads                          tok/s');
for (const s of sweep) {
  console.log(`${(s.label + (s.threads === chosenThreads && !s.label.includes('default') ? '  <- Spillway default' : '')).padEnd(32)} ${fmt(s.tps).padStart(8)}`);
}
const ours = sweep.find((s) => s.threads === chosenThreads)?.tps ?? NaN;
console.log(`target: default within 10 % of the best -> ${ours >= 0.9 * best ? 'met' : 'MISSED'} (${fmt((ours / best) * 100, 1)} % of best)`);

await local.dispose();
await model.dispose();
await cloud.close();
fixtures.cleanup();
process.exit(0);
