/**
 * How many requests the local model answers at once when the setting is left to the app: the most
 * sequences whose KV caches (N × the context) fit the memory left after the model, by node-llama-cpp's
 * GGUF insights (the estimate the Models view's fit uses), keeping half of that memory for everything else.
 */
import type { GgufInsights, Llama } from 'node-llama-cpp';

/** More sequences than this rarely help a desktop: each adds a context's memory and splits the CPU. */
export const MAX_DEFAULT_SEQUENCES = 4;
/** Share of the free memory the extra sequences may take. */
const FREE_MEMORY_SHARE = 0.5;

export interface FitInputs {
  insights: GgufInsights;
  contextSize: number;
  /** Layers of the model on the GPU (its KV cache lives there too). */
  gpuLayers: number;
  /** Free RAM and VRAM now, the model already loaded. */
  freeRam: number;
  freeVram: number;
}

/** Bytes of RAM and VRAM a context of `sequences` sequences needs. */
export async function contextMemory(inputs: Omit<FitInputs, 'freeRam' | 'freeVram'>, sequences: number): Promise<{ ram: number; vram: number }> {
  const { cpuRam, gpuVram } = await inputs.insights.estimateContextResourceRequirementsV2({
    contextSize: inputs.contextSize,
    modelGpuLayers: inputs.gpuLayers,
    sequences,
  });
  return { ram: cpuRam, vram: gpuVram };
}

/** The default sequence count: at least 1, at most MAX_DEFAULT_SEQUENCES, as many as memory allows. */
export async function defaultSequences(inputs: FitInputs): Promise<number> {
  const one = await contextMemory(inputs, 1);
  let best = 1;
  for (let n = 2; n <= MAX_DEFAULT_SEQUENCES; n++) {
    const need = await contextMemory(inputs, n);
    const extraRam = need.ram - one.ram;
    const extraVram = need.vram - one.vram;
    if (extraRam > inputs.freeRam * FREE_MEMORY_SHARE || extraVram > inputs.freeVram * FREE_MEMORY_SHARE) break;
    best = n;
  }
  return best;
}

/** Free RAM and VRAM as llama.cpp sees them. */
export async function freeMemory(llama: Llama): Promise<{ freeRam: number; freeVram: number }> {
  const [ram, vram] = await Promise.all([llama.getRamState(), llama.gpu === false ? Promise.resolve({ free: 0 }) : llama.getVramState()]);
  return { freeRam: ram.free, freeVram: vram.free };
}
