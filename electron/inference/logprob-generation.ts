/**
 * Generation that reports each token's log probability, used only when a request asks for logprobs.
 * LlamaChat's generateResponse does not expose token probabilities; the sequence's evaluateWithMetadata
 * does, so this loop drives the sequence itself: it evaluates the chat-templated prompt, samples with the
 * request's options (grammar included), and stops at end-of-generation, the chat template's stop texts,
 * the client's stop texts or max tokens. Ordinary requests keep LlamaChat, which also handles function
 * calls and context shifts.
 */
import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type LlamaText, type Token } from 'node-llama-cpp';
import type { TokenLogprob, TokenLogprobEntry } from '../core/types.js';
import type { SamplerOptions } from './sampling.js';
import { commonPrefixLength } from './slots.js';
import { StopTextScanner } from './stop-text.js';

/** How many recent tokens the presence and frequency penalties look at (node-llama-cpp's LlamaChat default). */
const PENALTY_WINDOW = 64;
/** Tokens of context for reading one token's text. */
const CONTEXT_TOKENS = 4;

export interface LogprobGeneration {
  model: LlamaModel;
  sequence: LlamaContextSequence;
  prompt: Token[];
  /** The chat template's own stop texts (from generateContextState). */
  templateStops: LlamaText[];
  stop: string[];
  sampler: SamplerOptions;
  penalties: { presencePenalty?: number; frequencyPenalty?: number } | null;
  grammar: LlamaGrammar | null;
  maxTokens: number;
  /** Alternatives reported at each place (0–20). */
  topLogprobs: number;
  signal: AbortSignal;
  /** Text as it is released, with the log probabilities of the tokens behind it. */
  onText: (text: string, logprobs: TokenLogprob[]) => void;
}

export interface LogprobResult {
  text: string;
  outputTokens: number;
  stopReason: 'stop' | 'length' | 'aborted';
  logprobs: TokenLogprob[];
}

export async function generateWithLogprobs(g: LogprobGeneration): Promise<LogprobResult> {
  const { model, sequence, prompt } = g;
  // Keep the prompt tokens the sequence already holds; at least one must be evaluated to sample from.
  const keep = Math.min(commonPrefixLength(sequence.contextTokens, prompt), prompt.length - 1);
  if (keep < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);

  // A JSON grammar ends its text with stop texts of its own (runs of newlines) that LlamaChat also applies.
  const grammarStops = (g.grammar?.stopGenerationTriggers ?? []).map((stop) => (typeof stop === 'string' ? stop : Array.isArray(stop) ? stop.filter((part) => typeof part === 'string').join('') : stop.toString()));
  const scanner = new StopTextScanner([...g.stop, ...[...g.templateStops.map((stop) => stop.toString()), ...grammarStops].filter((stop) => stop !== '')]);
  const generated: Token[] = [];
  const logprobs: TokenLogprob[] = [];
  let unsent: TokenLogprob[] = [];
  /** Where the tokens not yet turned into text start (a character split across tokens waits for its rest). */
  let undecoded = 0;
  const context = (at: number): Token[] => (at >= CONTEXT_TOKENS ? generated.slice(at - CONTEXT_TOKENS, at) : [...prompt.slice(-CONTEXT_TOKENS), ...generated.slice(0, at)].slice(-CONTEXT_TOKENS));
  let text = '';
  let stopReason: LogprobResult['stopReason'] = 'stop';
  const release = (piece: string): void => {
    if (piece === '') return;
    text += piece;
    g.onText(piece, unsent);
    unsent = [];
  };

  // The whole distribution only when alternatives are asked for: it is a map over the vocabulary at every token.
  const iterator = sequence.evaluateWithMetadata(prompt.slice(keep), { confidence: true, probabilities: g.topLogprobs > 0 }, {
    ...g.sampler,
    ...(g.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: g.grammar }) } : {}),
    ...(g.penalties ? { repeatPenalty: { punishTokens: () => generated.slice(-PENALTY_WINDOW), ...g.penalties } } : {}),
  });
  for await (const output of iterator) {
    const { token, confidence } = output;
    // Present when asked for above; the type of the output cannot follow a flag known only at run time.
    const probabilities = (output as { probabilities?: Map<Token, number> }).probabilities;
    if (g.signal.aborted) {
      stopReason = 'aborted';
      break;
    }
    // The tokens before give a token its text as it reads in place (SentencePiece's leading space).
    const before = context(generated.length);
    generated.push(token);
    const entry: TokenLogprob = { ...entryOf(model, token, confidence, before), topLogprobs: [] };
    if (probabilities) {
      for (const [alternative, probability] of probabilities) {
        if (entry.topLogprobs.length >= g.topLogprobs) break;
        entry.topLogprobs.push(entryOf(model, alternative, probability, before));
      }
    }
    logprobs.push(entry);
    unsent.push(entry);
    // A character split across tokens decodes as U+FFFD until its last token has come.
    const piece = model.detokenize(generated.slice(undecoded), false, context(undecoded));
    if (!piece.endsWith('\uFFFD')) {
      release(scanner.push(piece));
      undecoded = generated.length;
    }
    if (scanner.stopped) break;
    if (generated.length >= g.maxTokens) {
      stopReason = 'length';
      break;
    }
  }
  if (g.signal.aborted) stopReason = 'aborted';
  if (!scanner.stopped) release(scanner.push(model.detokenize(generated.slice(undecoded), false, context(undecoded))) + scanner.flush());
  // Tokens that only made up a stop text are not part of the answer, nor are their probabilities.
  if (scanner.stopped) logprobs.length -= unsent.length;
  if (g.grammar?.trimWhitespaceSuffix) text = text.trimEnd();
  return { text, outputTokens: generated.length, stopReason, logprobs };
}

function entryOf(model: LlamaModel, token: Token, probability: number, before: Token[]): TokenLogprobEntry {
  const piece = model.detokenize([token], true, before);
  return { token: piece, logprob: probability > 0 ? Math.log(probability) : -9999, bytes: [...Buffer.from(piece, 'utf8')] };
}
