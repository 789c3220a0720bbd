/**
 * The thread count for generation. node-llama-cpp's default (every logical core, more on some machines)
 * is a poor fit for small models: thread synchronisation costs more than the arithmetic it spreads out.
 * On a 2-core machine stories260K runs at ~2 tok/s with the default (4 threads) and ~1000 tok/s with one
 * (`npm run bench` shows the sweep). Small models therefore get one thread; larger models get one thread
 * per physical core, which is where llama.cpp's matrix kernels stop gaining.
 */
export const SMALL_MODEL_BYTES = 256 * 1024 * 1024;

export interface ThreadInputs {
  modelBytes: number;
  /** Physical cores usable for math (node-llama-cpp's `cpuMathCores`). */
  mathCores: number;
  /** Logical cores available to this process (`os.availableParallelism()`). */
  logicalCores: number;
  /** True when the model runs fully on a GPU, where CPU threads only feed it. */
  fullyOffloaded?: boolean;
}

/** Picks the default generation thread count; the user can override it in settings. */
export function defaultThreadCount({ modelBytes, mathCores, logicalCores, fullyOffloaded }: ThreadInputs): number {
  if (fullyOffloaded || modelBytes < SMALL_MODEL_BYTES) return 1;
  const cores = Math.max(1, Math.min(mathCores || logicalCores, logicalCores));
  return cores;
}
