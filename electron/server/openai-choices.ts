/**
 * The local model's answers as OpenAI bodies when a request asks for more than the plain answer: several
 * choices (`n`), each with its index, and log probabilities. Built over completionBody and chunkBody so
 * whatever those carry is kept.
 */
import type { CompletionResponse, TokenLogprob } from '../core/types.js';
import { completionBody, usageChunkBody, usageOf } from './openai-format.js';
import { choicesUsage, logprobsBody } from './openai-sampling.js';

/** A complete `chat.completion` with one choice per response, in order. */
export function choicesBody(id: string, created: number, responses: CompletionResponse[], withLogprobs: boolean) {
  const body = completionBody(id, created, responses[0]!);
  const choices = responses.map((response, index) => ({
    ...completionBody(id, created, response).choices[0]!,
    index,
    ...(withLogprobs ? { logprobs: logprobsBody(response.logprobs ?? []) } : {}),
  }));
  return { ...body, choices, usage: responses.length > 1 ? choicesUsage(responses) : usageOf(responses[0]!) };
}

/** A chunk (from chunkBody) re-addressed to choice `index`, carrying the log probabilities of its tokens when given. */
export function forChoice<T extends { choices: Array<Record<string, unknown>> }>(chunk: T, index: number, logprobs: TokenLogprob[] | null): T {
  return { ...chunk, choices: chunk.choices.map((choice) => ({ ...choice, index, ...(logprobs ? { logprobs: logprobsBody(logprobs) } : {}) })) };
}

/** The usage chunk of several choices: the prompt counted once, the completions added up. */
export function choicesUsageChunk(id: string, created: number, responses: CompletionResponse[]) {
  return { ...usageChunkBody(id, created, responses[0]!), usage: choicesUsage(responses) };
}
