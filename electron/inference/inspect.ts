/**
 * What the model manager shows about a GGUF file before it is loaded: what it is, and whether it fits this
 * machine at the chosen context — from node-llama-cpp's GGUF insights, which model llama.cpp's own memory
 * accounting.
 */
import { basename } from 'node:path';
import { GgufFileType, type Llama } from 'node-llama-cpp';
import { validateGguf } from './gguf-validate.js';
import type { ModelInspection } from './protocol.js';

/** Default context for the fit estimate when none is chosen: what most chats need. */
export const FIT_CONTEXT = 4096;

export async function inspectModel(path: string, llama: Llama, contextSize?: number): Promise<ModelInspection> {
  const { info, insights, fileSizeBytes, architecture } = await validateGguf(path, llama);
  const trained = insights.trainContextSize ?? 0;
  const target = Math.max(256, Math.min(contextSize ?? FIT_CONTEXT, trained || FIT_CONTEXT));
  const { compatibilityScore, resolvedValues } = await insights.configurationResolver.resolveAndScoreConfig({ targetContextSize: target });
  const fileType = info.metadata.general?.file_type;
  const quantization = fileType === undefined ? null : (GgufFileType[fileType] ?? String(fileType)).replace(/^MOSTLY_/, '');
  let fit: ModelInspection['fit']['verdict'];
  if (compatibilityScore <= 0) fit = 'too-large';
  else if (llama.gpu !== false && resolvedValues.gpuLayers >= insights.totalLayers) fit = 'gpu';
  else if (llama.gpu !== false && resolvedValues.gpuLayers > 0) fit = 'partial-gpu';
  else fit = 'ram';
  const name = info.metadata.general?.name;
  return {
    path,
    name: typeof name === 'string' && name ? name : basename(path).replace(/\.gguf$/i, ''),
    architecture,
    parameters: insights.totalParameters,
    quantization,
    fileSizeBytes,
    trainedContextSize: trained,
    fit: {
      verdict: fit,
      contextSize: resolvedValues.contextSize,
      gpuLayers: resolvedValues.gpuLayers,
      ramBytes: resolvedValues.totalRamUsage,
      vramBytes: resolvedValues.totalVramUsage,
      backend: llama.gpu === false ? 'cpu' : llama.gpu,
    },
  };
}
