/**
 * `npm run bench` (second part): the local engine answering several requests at once, measured in one run.
 * - Aggregate tok/s with 1, 2 and 4 concurrent clients through the local driver, against node-llama-cpp
 *   in-process with the same number of sequences (target ≥ 0.9).
 * - Time to first token, p50 and p95, with 4 concurrent clients against 1 (target p95 ≤ 2×).
 * - Time to first token of the next turn of a ~1,500-token conversation after three other conversations:
 *   one sequence and no cache (the first build), restored from disk, kept in a sequence (target ≤ 0.2×).
 * - Memory per extra sequence: node-llama-cpp's estimate and the host's resident memory.
 * Without --model it runs on a generated model wide enough for prompts to cost what they do on real ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaChat, type ChatHistoryItem } from 'node-llama-cpp';
import type { ChatMessage, CompletionResponse } from '../../electron/core/types.js';
import { forkHostLauncher } from '../../electron/drivers/host-process.js';
import { LocalDriver, type LocalDriverOptions } from '../../electron/drivers/local-driver.js';
import { contextMemory } from '../../electron/inference/parallel-fit.js';
import { makeFixtureModels } from '../fixtures/models.js';
import { loadBenchModel, benchArgs, engineBenchModel, fmt, median, mib, percentile, rssOf, verdict } from './common.js';

const args = benchArgs();
const fixtures = makeFixtureModels();
const modelPath = engineBenchModel(args.model, fixtures.dir);
const runs = Number(args.runs);
/** Tokens per client: the streaming figure is for 200. */
const maxTokens = 200;

const { model, threads, contextSize } = await loadBenchModel(modelPath);
const drivers: LocalDriver[] = [];
const cacheDirs: string[] = [];

function driver(extra: Partial<LocalDriverOptions>): LocalDriver {
  const d = new LocalDriver({ modelPath, threads, contextSize, gpu: 'auto', ...extra });
  drivers.push(d);
  return d;
}

/** A client's question, different per run so no request finds its prompt already evaluated. */
function question(run: number, client: number): string {
  return `Run ${run}, client ${client}: once upon a time there was a ship on the sea.`;
}

console.log(`\n--- local engine: parallel sequences (model ${modelPath}; threads ${threads}; context ${contextSize}; ${runs} interleaved runs, medians) ---`);

// --- aggregate throughput ------------------------------------------------------------------------------
console.log(`clients   in-process tok/s   local driver tok/s   ratio (paired)   (${maxTokens} tokens each)`);
const throughputRatios: number[] = [];
let fourClients: LocalDriver | null = null;
for (const clients of [1, 2, 4]) {
  const context = await model.createContext({ contextSize, threads, sequences: clients });
  const chats = Array.from({ length: clients }, () => new LlamaChat({ contextSequence: context.getSequence() }));
  const local = driver({ parallel: clients });
  await local.load();
  const inProcess = async (run: number): Promise<number> => {
    const started = performance.now();
    let tokens = 0;
    await Promise.all(chats.map((chat, i) => {
      const history: ChatHistoryItem[] = [{ type: 'user', text: question(run, i) }, { type: 'model', response: [] }];
      return chat.generateResponse(history, { maxTokens, temperature: 0, onToken: (t) => void (tokens += t.length) });
    }));
    return (tokens * 1000) / (performance.now() - started);
  };
  const throughDriver = async (run: number): Promise<number> => {
    const started = performance.now();
    const results = await Promise.all(chats.map((_, i) => local.complete({ messages: [{ role: 'user', content: question(run, i) }], maxTokens, temperature: 0 })));
    return (results.reduce((sum, r) => sum + r.usage.outputTokens, 0) * 1000) / (performance.now() - started);
  };
  const pairs: Array<[number, number]> = [];
  for (let r = 0; r <= runs; r++) {
    const a = await inProcess(r);
    const b = await throughDriver(r);
    if (r > 0) pairs.push([a, b]);
  }
  const ratio = median(pairs.map(([a, b]) => b / a));
  throughputRatios.push(ratio);
  console.log(`${String(clients).padStart(7)}   ${fmt(median(pairs.map((p) => p[0]))).padStart(16)}   ${fmt(median(pairs.map((p) => p[1]))).padStart(18)}   ${fmt(ratio, 3).padStart(14)}`);
  await context.dispose();
  if (clients === 4) fourClients = local;
}
console.log(`target: aggregate ratio >= 0.9 with 1, 2 and 4 clients -> ${verdict(throughputRatios.every((r) => r >= 0.9))} (${throughputRatios.map((r) => fmt(r, 3)).join(', ')})\n`);

// --- time to first token with 4 clients ------------------------------------------------------------------
{
  const ttft = (r: CompletionResponse): number => r.timings.timeToFirstTokenMs ?? NaN;
  /** Time to first token of one client alone, then of each of 4 clients at once, on `local`. */
  const sample = async (local: LocalDriver, offset: number) => {
    const single: number[] = [];
    const four: number[] = [];
    for (let r = 0; r <= runs; r++) {
      const one = await local.complete({ messages: [{ role: 'user', content: question(offset + r, 0) }], maxTokens, temperature: 0 });
      const many = await Promise.all([0, 1, 2, 3].map((i) => local.complete({ messages: [{ role: 'user', content: question(offset + 500 + r, i) }], maxTokens, temperature: 0 })));
      if (r === 0) continue;
      single.push(ttft(one));
      four.push(...many.map(ttft));
    }
    return { single, four };
  };
  const line = (label: string, xs: number[]): string => `${label}: p50 ${fmt(percentile(xs, 0.5), 1)} ms, p95 ${fmt(percentile(xs, 0.95), 1)} ms (${xs.length} requests)`;
  const { single, four } = await sample(fourClients!, 1000);
  // The first build's engine for comparison: one sequence, the others wait for the answers ahead.
  const queued = await sample(driver({ parallel: 1 }), 3000);
  // node-llama-cpp alone with 4 sequences: what batching the four prompts costs before any of them answers.
  const context = await model.createContext({ contextSize, threads, sequences: 4 });
  const chats = [0, 1, 2, 3].map(() => new LlamaChat({ contextSequence: context.getSequence() }));
  const first = async (chat: LlamaChat, text: string): Promise<number> => {
    const started = performance.now();
    let at = 0;
    await chat.generateResponse([{ type: 'user', text }, { type: 'model', response: [] }], { maxTokens, temperature: 0, onTextChunk: () => void (at ||= performance.now()) });
    return at - started;
  };
  const limit = { single: [] as number[], four: [] as number[] };
  // The same, with the four requests arriving 2 ms apart, as they do over IPC or HTTP.
  const staggered: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const one = await first(chats[0]!, question(5000 + r, 0));
    const many = await Promise.all(chats.map((chat, i) => first(chat, question(5500 + r, i))));
    const late: Array<Promise<number>> = [];
    for (const [i, chat] of chats.entries()) {
      late.push(first(chat, question(6000 + r, i)));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const lateTimes = await Promise.all(late);
    if (r === 0) continue;
    limit.single.push(one);
    limit.four.push(...many);
    staggered.push(...lateTimes);
  }
  await context.dispose();
  const ratio = (xs: { single: number[]; four: number[] }): number => percentile(xs.four, 0.95) / percentile(xs.single, 0.95);
  const p95 = ratio({ single, four });
  console.log(`time to first token, ${line('1 client', single)}`);
  console.log(`time to first token, ${line('4 clients, 4 sequences', four)}`);
  console.log(`time to first token, ${line('4 clients, 1 sequence (queued)', queued.four)}`);
  console.log(`time to first token, in-process node-llama-cpp, ${line('1 client', limit.single)}; ${line('4 clients', limit.four)}; ${line('4 clients 2 ms apart', staggered)}`);
  console.log(`target: p95 with 4 clients <= 2x the single client's -> ${verdict(p95 <= 2)} (${fmt(p95, 2)}x; one sequence: ${fmt(ratio(queued), 2)}x; in-process node-llama-cpp: ${fmt(ratio(limit), 2)}x)\n`);
}

// --- the next turn of a long conversation after three others ----------------------------------------------
{
  const probe = driver({ parallel: 1 });
  const filler = 'The ship sailed on across the grey sea, and the crew sang while the wind rose. ';
  let repeat = 4;
  const long = (r: number): ChatMessage[] => [{ role: 'user', content: `Conversation ${r}. ${filler.repeat(repeat)}` }];
  while ((await probe.countTokens(long(0))) < 1500 && repeat < 1000) repeat++;
  const promptTokens = await probe.countTokens(long(0));
  if (promptTokens + 64 > contextSize) throw new Error(`cache bench: the model's context (${contextSize}) cannot hold a 1,500-token conversation`);
  const cacheDir = mkdtempSync(join(tmpdir(), 'spillway-bench-cache-'));
  cacheDirs.push(cacheDir);
  const variants = {
    'one sequence, no cache': driver({ parallel: 1 }),
    'restored from disk (2 sequences)': driver({ parallel: 2, stateCacheDir: cacheDir }),
    'kept in a sequence (4 sequences)': driver({ parallel: 4 }),
  };
  const results: Record<string, { ttft: number[]; cached: number[] }> = {};
  for (let r = 0; r <= runs; r++) {
    for (const [name, local] of Object.entries(variants)) {
      const key = `${name}-${r}`;
      const first = long(r);
      const a1 = await local.complete({ messages: first, maxTokens: 8, temperature: 0, affinityKey: key });
      for (let o = 0; o < 3; o++) {
        await local.complete({ messages: [{ role: 'user', content: `Other conversation ${r}.${o}: ${filler.repeat(20)}` }], maxTokens: 8, temperature: 0, affinityKey: `${key}-other-${o}` });
      }
      const next: ChatMessage[] = [...first, { role: 'assistant', content: a1.text }, { role: 'user', content: 'And what happened next?' }];
      const a2 = await local.complete({ messages: next, maxTokens: 8, temperature: 0, affinityKey: key });
      if (r === 0) continue;
      (results[name] ??= { ttft: [], cached: [] }).ttft.push(a2.timings.timeToFirstTokenMs ?? NaN);
      results[name]!.cached.push(a2.usage.cachedInputTokens ?? 0);
    }
  }
  const base = median(results['one sequence, no cache']!.ttft);
  console.log(`next turn of a ${promptTokens}-token conversation after three others: time to first token (median), prompt tokens reused`);
  const ratios: number[] = [];
  for (const [name, { ttft, cached }] of Object.entries(results)) {
    const ratio = median(ttft) / base;
    if (name !== 'one sequence, no cache') ratios.push(ratio);
    console.log(`  ${name.padEnd(34)} ${fmt(median(ttft), 1).padStart(8)} ms   ${fmt(ratio, 3)}x   ${fmt(median(cached), 0)} tokens reused`);
  }
  console.log(`target: cached <= 0.2x uncached -> ${verdict(ratios.every((r) => r <= 0.2))} (${ratios.map((r) => fmt(r, 3)).join(', ')})\n`);
}

// --- memory per extra sequence ----------------------------------------------------------------------------
{
  const measure = async (sequences: number): Promise<{ loaded: number; used: number }> => {
    let pid = 0;
    const fork = forkHostLauncher();
    const local = driver({ parallel: sequences, launcher: () => {
      const host = fork();
      pid = host.pid!;
      return host;
    } });
    await local.load();
    const loaded = rssOf(pid);
    // Every sequence holds a long prompt, so its part of the KV cache is written to.
    await Promise.all(Array.from({ length: sequences }, (_, i) => local.complete({ messages: [{ role: 'user', content: `${i}: ${'a story of the sea, '.repeat(60)}` }], maxTokens: 64, temperature: 0 })));
    const used = rssOf(pid);
    await local.dispose();
    return { loaded, used };
  };
  const one = await measure(1);
  const four = await measure(4);
  const estimate = async (n: number) => contextMemory({ insights: model.fileInsights, contextSize, gpuLayers: model.gpuLayers }, n);
  const [e1, e4] = await Promise.all([estimate(1), estimate(4)]);
  console.log(`memory per extra sequence (context ${contextSize}): node-llama-cpp's estimate ${mib((e4.ram + e4.vram - e1.ram - e1.vram) / 3)};`
    + ` host resident memory ${mib((four.loaded - one.loaded) / 3)} after loading, ${mib((four.used - one.used) / 3)} once every sequence has held a prompt`
    + ` (host with 1 sequence: ${mib(one.used)}, with 4: ${mib(four.used)})\n`);
}

await Promise.all(drivers.map((d) => d.dispose()));
await model.dispose();
for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
fixtures.cleanup();
process.exit(0);
