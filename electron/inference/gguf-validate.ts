/**
 * Checks a GGUF file before llama.cpp sees it. llama.cpp aborts the whole process on some malformed files
 * (a missing `llama.feed_forward_length`, for one), so everything we can check in JavaScript, we check here.
 */
import { GgufInsights, readGgufFileInfo, type GgufFileInfo, type Llama } from 'node-llama-cpp';
import { DriverError } from '../core/errors.js';
import { precheckGguf } from './gguf-precheck.js';

/** Architectures whose blocks have no feed-forward network, so the key is legitimately absent. */
const NO_FFN_ARCHITECTURES = new Set(['mamba', 'mamba2', 'rwkv6', 'rwkv6qwen2', 'rwkv7', 'arwkv7']);

export interface ValidatedModel {
  info: GgufFileInfo;
  insights: GgufInsights;
  fileSizeBytes: number;
  architecture: string;
}

/** Throws a DriverError naming the problem, or returns what it read. */
export async function validateGguf(path: string, llama: Llama): Promise<ValidatedModel> {
  const size = await precheckGguf(path);
  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, sourceType: 'filesystem', logWarnings: false });
  } catch (error) {
    throw new DriverError('inference_failed', `The GGUF file is damaged or truncated and cannot be read: ${messageOf(error)}`, { cause: error });
  }
  const architecture: string | undefined = info.metadata.general?.architecture;
  if (typeof architecture !== 'string' || architecture === '') {
    throw new DriverError('inference_failed', 'The GGUF file has no general.architecture: it is not a usable language model.');
  }
  const arch = (info.metadata as unknown as Record<string, Record<string, unknown> | undefined>)[architecture] ?? {};
  const required = ['context_length', 'embedding_length', 'block_count'];
  if (!NO_FFN_ARCHITECTURES.has(architecture)) required.push('feed_forward_length');
  const missing = required.filter((key) => arch[key] === undefined).map((key) => `${architecture}.${key}`);
  const tokenizer = info.metadata.tokenizer?.ggml;
  if (!tokenizer?.model) missing.push('tokenizer.ggml.model');
  if (!tokenizer?.tokens || tokenizer.tokens.length === 0) missing.push('tokenizer.ggml.tokens');
  if (missing.length > 0) {
    throw new DriverError('inference_failed', `The GGUF file is missing required metadata (${missing.join(', ')}); llama.cpp cannot load it.`);
  }

  const insights = await GgufInsights.from(info, llama);
  if (info.splicedParts === 1 && info.infoEndOffset !== undefined && info.infoEndOffset + insights.modelSize > size) {
    throw new DriverError(
      'inference_failed',
      `The GGUF file is truncated: its tensors need ${info.infoEndOffset + insights.modelSize} bytes but the file has ${size}. Download it again.`,
    );
  }
  if (!insights.isSupportedByLlamaCpp) {
    throw new DriverError('inference_failed', `This build of llama.cpp does not support the "${architecture}" architecture.`);
  }
  return { info, insights, fileSizeBytes: size, architecture };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
