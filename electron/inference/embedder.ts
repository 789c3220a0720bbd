/**
 * Embeddings on the local engine: an embedding context (node-llama-cpp's `createEmbeddingContext`) on the
 * loaded model, or on a second model chosen for embeddings. It is a context of its own, apart from the
 * chat context's sequences, so embeddings never take a chat's KV cache; it is created on the first request
 * (no memory is reserved for an app that never embeds) and node-llama-cpp evaluates one input at a time.
 */
import { basename } from 'node:path';
import type { Llama, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { DriverError } from '../core/errors.js';
import { validateGguf } from './gguf-validate.js';
import type { HostEmbeddings } from './protocol.js';

/** A dedicated embedding model's context cap: OpenAI's own input limit, and these models are small. */
const EMBEDDING_CONTEXT_CAP = 8192;

export interface EmbedderOptions {
  llama: Llama;
  /** The chat model, used when no embedding model is chosen. */
  chatModel: LlamaModel;
  /** The chat model's name for answers. */
  chatModelName: string;
  /** The chat context's size per sequence: on the chat model the embedding context is no larger. */
  chatContextSize: number;
  /** A GGUF file to embed with instead of the chat model. */
  modelPath?: string;
  threads: number;
}

export class Embedder {
  private constructor(
    private readonly context: LlamaEmbeddingContext,
    /** Set when the embedder loaded a model of its own, which it disposes. */
    private readonly ownModel: LlamaModel | null,
    readonly modelName: string,
    readonly contextSize: number,
  ) {}

  /** Loads the embedding model (when one is chosen) and creates its embedding context. */
  static async create(options: EmbedderOptions): Promise<Embedder> {
    let model = options.chatModel;
    let name = options.chatModelName;
    let own: LlamaModel | null = null;
    if (options.modelPath) {
      try {
        await validateGguf(options.modelPath, options.llama);
      } catch (error) {
        // The chat model is fine: say which file is at fault, so nobody looks at the wrong one.
        const failure = DriverError.from(error);
        throw new DriverError(failure.kind, `The embedding model ${basename(options.modelPath)} cannot be used: ${failure.message}`, { cause: error });
      }
      try {
        own = model = await options.llama.loadModel({ modelPath: options.modelPath });
      } catch (error) {
        throw new DriverError('inference_failed', `llama.cpp could not load the embedding model: ${messageOf(error)}`, { cause: error });
      }
      name = (model.fileInfo.metadata.general?.name as string | undefined) || basename(options.modelPath).replace(/\.gguf$/i, '');
    }
    const trained = model.trainContextSize;
    const cap = Math.max(1, Math.min(trained, own ? EMBEDDING_CONTEXT_CAP : options.chatContextSize));
    try {
      // A whole input is evaluated in one batch: models that pool over every token (BERT-like) need it.
      const context = await model.createEmbeddingContext({ contextSize: { min: Math.min(64, cap), max: cap }, batchSize: cap, threads: options.threads });
      return new Embedder(context, own, name, cap);
    } catch (error) {
      await own?.dispose();
      const message = messageOf(error);
      if (/not supported/i.test(message)) throw new DriverError('unsupported', `The local model cannot make embeddings: ${message}`, { cause: error });
      throw new DriverError('inference_failed', `Not enough memory for an embedding context: ${message}`, { cause: error });
    }
  }

  /**
   * One vector per input, in order, each scaled to length 1 as OpenAI's are (so a dot product is the cosine
   * similarity). An input longer than the context is refused, as OpenAI refuses it: cutting it would embed
   * a different text.
   */
  async embed(inputs: string[], signal: AbortSignal): Promise<HostEmbeddings> {
    const lengths = inputs.map((input) => this.context.calculateInputLength(input));
    // llama.cpp needs a token left over, so an input must be shorter than the context.
    const tooLong = lengths.findIndex((length) => length >= this.contextSize);
    if (tooLong !== -1) {
      const where = inputs.length === 1 ? 'The input' : `Input ${tooLong}`;
      throw new DriverError('context_overflow', `${where} has ${lengths[tooLong]} tokens, more than the ${this.contextSize - 1} the local embedding model takes.`);
    }
    const vectors: number[][] = [];
    for (const input of inputs) {
      if (signal.aborted) throw new DriverError('aborted', 'The request was cancelled.');
      try {
        vectors.push(normalised((await this.context.getEmbeddingFor(input)).vector));
      } catch (error) {
        throw new DriverError('inference_failed', `The local embedding failed: ${messageOf(error)}`, { cause: error });
      }
    }
    return { model: this.modelName, vectors, inputTokens: lengths.reduce((sum, n) => sum + n, 0) };
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.ownModel?.dispose();
  }
}

function normalised(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm > 0 ? vector.map((x) => x / norm) : [...vector];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
