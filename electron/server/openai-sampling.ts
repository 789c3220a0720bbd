/**
 * The sampling, structured-output, logprobs and `n` fields of a chat completion request: their validation
 * (OpenAI's ranges; a 400 names the field) and how they become the drivers' SamplingOptions. Forwarded
 * requests carry them to the endpoint unchanged; the local model applies them.
 */
import { z } from 'zod';
import type { CompletionResponse, SamplingOptions, TokenLogprob, TokenLogprobEntry } from '../core/types.js';

/**
 * Choices generated for one request. The local model generates them one after another, each as long as an
 * answer, so a request for many would hold the model (and every client queued behind it) for that long;
 * eight covers what clients ask for (best-of, a few drafts) while a runaway n cannot.
 */
export const MAX_CHOICES = 8;
/** OpenAI's own limits. */
const MAX_STOPS = 4;
const MAX_TOP_LOGPROBS = 20;

const penalty = z.number().min(-2).max(2).nullish();

const responseFormat = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('text') }),
    z.looseObject({ type: z.literal('json_object') }),
    z.looseObject({
      type: z.literal('json_schema'),
      json_schema: z.looseObject({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, underscores or dashes'),
        description: z.string().nullish(),
        schema: z.record(z.string(), z.unknown()).nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: 'must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {...}}' },
);

/** The fields, checked, for the request schema's shape. */
export const samplingFields = {
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOPS, `at most ${MAX_STOPS} stop sequences`)], { error: `must be a string or an array of up to ${MAX_STOPS} strings` }).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  // Extensions llama.cpp's and Ollama's servers accept too.
  top_k: z.number().int().min(0).max(1_000_000).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  presence_penalty: penalty,
  frequency_penalty: penalty,
  logit_bias: z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), z.number().min(-100).max(100)).nullish(),
  response_format: responseFormat.nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  n: z.number().int().min(1).max(MAX_CHOICES, `at most ${MAX_CHOICES} choices per request`).nullish(),
};

type SamplingBody = { [K in keyof typeof samplingFields]?: z.infer<(typeof samplingFields)[K]> };

/** What OpenAI refuses across fields: the 400's message and the field it names, or null. */
export function samplingConflict(body: SamplingBody): { message: string; param: string } | null {
  if (body.top_logprobs != null && body.logprobs !== true) return { message: 'top_logprobs: logprobs must be true when top_logprobs is set', param: 'top_logprobs' };
  if (body.response_format?.type === 'json_schema' && !body.response_format.json_schema.schema) {
    return { message: 'response_format.json_schema.schema: a schema is required', param: 'response_format.json_schema.schema' };
  }
  return null;
}

/** The sampling options the body asks for; absent fields are left out, so drivers keep their defaults. */
export function samplingOf(body: SamplingBody): SamplingOptions {
  const options: SamplingOptions = {};
  if (body.stop != null) {
    const stops = (typeof body.stop === 'string' ? [body.stop] : body.stop).filter((stop) => stop !== '');
    if (stops.length > 0) options.stop = stops;
  }
  if (body.top_p != null) options.topP = body.top_p;
  if (body.top_k != null) options.topK = body.top_k;
  if (body.min_p != null) options.minP = body.min_p;
  if (body.presence_penalty != null) options.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null) options.frequencyPenalty = body.frequency_penalty;
  if (body.logit_bias != null && Object.keys(body.logit_bias).length > 0) options.logitBias = body.logit_bias;
  const format = body.response_format;
  if (format?.type === 'json_object') options.responseFormat = { type: 'json_object' };
  if (format?.type === 'json_schema' && format.json_schema.schema) options.responseFormat = { type: 'json_schema', schema: format.json_schema.schema };
  if (body.logprobs === true) options.logprobs = body.top_logprobs ?? 0;
  return options;
}

/** A choice's `logprobs` as OpenAI writes it. */
export function logprobsBody(tokens: TokenLogprob[]) {
  return { content: tokens.map((token) => ({ ...entryBody(token), top_logprobs: token.topLogprobs.map(entryBody) })), refusal: null };
}

function entryBody(entry: TokenLogprobEntry) {
  return { token: entry.token, logprob: entry.logprob, bytes: entry.bytes };
}

/** Usage of several choices: the prompt counted once, the completions added up. */
export function choicesUsage(responses: CompletionResponse[]) {
  const prompt = responses[0]?.usage.inputTokens ?? 0;
  const completion = responses.reduce((sum, response) => sum + response.usage.outputTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
