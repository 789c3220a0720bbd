/**
 * What the benchmarks share: their flags, the model in-process with the thread count Spillway would pick,
 * the statistics they print and how they read a process's memory.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { defaultThreadCount } from '../../electron/inference/threads.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';

/**
 * The parallel engine benchmarks' model: the one given with --model, else a generated 4-layer model that
 * writes "tick tock" forever, written into `dir`.
 */
export function engineBenchModel(model: string | undefined, dir: string): string {
  return model ?? writeBigramModel(join(dir, 'bench-engine.gguf'), {
    words: ['tick', 'tock'], loop: true, contextLength: 4096, embeddingLength: 256, layers: 4, feedForwardLength: 768,
  });
}

/** The flags `npm run bench -- …` passes to every part; each part reads the ones it uses. */
export function benchArgs() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      tokens: { type: 'string', default: '1024' },
      runs: { type: 'string', default: '9' },
      'first-token-timeout': { type: 'string', default: '2000' },
      soak: { type: 'string', default: '1000' },
    },
  });
  return values;
}

export interface BenchModel {
  llama: Llama;
  model: LlamaModel;
  /** What Spillway picks by default for this model on this machine. */
  threads: number;
  /** The context every part uses: the trained one, at most 2048. */
  contextSize: number;
}

/** Loads `modelPath` in this process, as the in-process limit every figure is compared with. */
export async function loadBenchModel(modelPath: string): Promise<BenchModel> {
  const llama = await getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const threads = defaultThreadCount({
    modelBytes: statSync(modelPath).size,
    mathCores: llama.cpuMathCores,
    logicalCores: availableParallelism(),
    fullyOffloaded: llama.gpu !== false && model.gpuLayers >= model.fileInsights.totalLayers,
  });
  return { llama, model, threads, contextSize: Math.min(model.trainContextSize, 2048) };
}

export const median = (xs: number[]): number => percentile(xs, 0.5);

/** The nearest-rank percentile (`p` from 0 to 1) of `xs`; NaN for none. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export const mib = (bytes: number): string => `${fmt(bytes / 2 ** 20)} MiB`;

export function verdict(met: boolean): string {
  return met ? 'met' : 'MISSED';
}

/** Resident memory of a process, from /proc (Linux); NaN elsewhere. */
export function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Child process ids of `pid`, from /proc (Linux); none elsewhere. */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}
