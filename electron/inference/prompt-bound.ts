/**
 * Refusing a prompt that cannot fit the context without tokenising all of it. Tokenising is a synchronous
 * native call: 10 MB of text held the host's event loop (and every other request's generation) for 9–18 s
 * before the prompt was refused. Two cheaper steps come first:
 *
 * 1. A byte bound. No token covers more bytes of text than the longest entry of the vocabulary (byte-level
 *    BPE and SentencePiece spell a token with at least as many bytes as it covers), so a prompt of more
 *    than `context × longest` bytes needs more tokens than the context has. The bound is doubled to allow
 *    for tokenizers that normalise text (NFKC folds some 3-byte characters into 2-byte pieces): it may let
 *    a hopeless prompt through to step 2, never refuse one that fits.
 * 2. For a prompt still large after that, counting in chunks with a yield to the event loop between them,
 *    stopping as soon as the count shows it cannot fit. Cutting text between chunks can only change the
 *    tokens near each cut, so the count is discounted by a few tokens per cut before it refuses.
 *
 * What passes both is at most about one context's worth of text, whose exact tokenisation is short.
 */
import { DriverError } from '../core/errors.js';

/** Room for normalising tokenizers (see above). */
const NORMALISATION_MARGIN = 2;
/** Text longer than this is counted in chunks before it is tokenised whole. */
export const CHUNKED_COUNT_FROM_BYTES = 64 * 1024;
/** One chunk: a few milliseconds of tokenising on a slow CPU. */
export const CHUNK_CHARS = 8 * 1024;
/** Tokens a cut between chunks can add compared with tokenising the text whole. */
const TOKENS_PER_CUT = 8;

/** The most bytes of text one token can stand for, from the vocabulary's spelled tokens. */
export function longestTokenBytes(vocabulary: readonly unknown[] | undefined): number {
  let longest = 1;
  for (const token of vocabulary ?? []) {
    if (typeof token === 'string') longest = Math.max(longest, Buffer.byteLength(token, 'utf8'));
  }
  return longest;
}

export interface PromptLimits {
  /** Tokens the prompt and the answer share. */
  window: number;
  /** From `longestTokenBytes`. */
  longestTokenBytes: number;
}

/** The most bytes of text a prompt may have before it is refused without tokenising. */
export function promptByteLimit(limits: PromptLimits): number {
  return limits.window * limits.longestTokenBytes * NORMALISATION_MARGIN;
}

export function overflow(message: string): DriverError {
  return new DriverError('context_overflow', message);
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

/** Step 1: throws `context_overflow` when `bytes` of text cannot fit the window. */
export function checkPromptBytes(bytes: number, limits: PromptLimits): void {
  const limit = promptByteLimit(limits);
  if (bytes > limit) {
    throw overflow(
      `The conversation is ${sizeText(bytes)} of text, far more than the local model's context of ${limits.window} tokens can hold (at most about ${sizeText(limit)}); it was refused without reading it.`,
    );
  }
}

/**
 * Step 2: counts `texts` in chunks, yielding between them, and throws `context_overflow` as soon as the
 * count shows they cannot fit `window`. Resolves with the (approximate) count when they may fit.
 */
export async function countInChunks(texts: readonly string[], window: number, count: (text: string) => number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  let cuts = 0;
  for (const text of texts) {
    for (let start = 0; start < text.length;) {
      let end = Math.min(text.length, start + CHUNK_CHARS);
      // Cut at a space or line break when there is one near, where tokenizers split anyway.
      if (end < text.length) {
        const space = text.lastIndexOf(' ', end);
        if (space > start + CHUNK_CHARS / 2) end = space;
      }
      total += count(text.slice(start, end));
      if (end < text.length) cuts++;
      start = end;
      if (total - cuts * TOKENS_PER_CUT > window) {
        throw overflow(`The conversation needs more tokens than the local model's context of ${window}; it was refused after reading part of it.`);
      }
      if (signal?.aborted) throw new DriverError('aborted', 'The request was cancelled.');
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return total;
}
