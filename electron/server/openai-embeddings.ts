/**
 * `POST /v1/embeddings` in OpenAI's shape. The local model answers with vectors of length 1, as floats or
 * as base64 (little-endian float32 bytes, as OpenAI encodes them; the official SDK asks for base64 when
 * the caller names no format, and decodes it). A request an endpoint answers reaches it as the client sent
 * it (only `model` becomes the endpoint's), and the endpoint's answer reaches the client as it is.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { EmbeddingResponse } from '../core/types.js';
import type { OpenAIService } from '../services/openai-service.js';
import { sendJson } from './http-util.js';
import { mapFailure, openAIError } from './openai-format.js';
import { abortOnHangUp, answerHeaders, readRequest } from './openai-http.js';

/** OpenAI's own limit on inputs per request. */
const MAX_INPUTS = 2048;

const text = z.string().min(1, 'must not be empty');
const tokenArrays = 'token arrays are not supported here; send the text (a string or an array of strings)';

/** The fields Spillway reads, checked; every field travels on unchanged to an endpoint the request is forwarded to. */
export const embeddingsBody = z.looseObject({
  model: z.string().max(200).nullish(),
  input: z.union(
    [
      text,
      z.array(text, { error: tokenArrays }).min(1, 'must contain at least one input').max(MAX_INPUTS, `must contain at most ${MAX_INPUTS} inputs`),
    ],
    {
      error: (issue) =>
        Array.isArray(issue.input) && issue.input.some((item) => typeof item !== 'string') ? tokenArrays : 'must be a string or an array of strings',
    },
  ),
  encoding_format: z.enum(['float', 'base64'], { error: 'must be "float" or "base64"' }).nullish(),
  dimensions: z.number().int().min(1).max(65_536).nullish(),
  user: z.string().max(1000).nullish(),
});

export type EmbeddingsBody = z.infer<typeof embeddingsBody>;

/** Answers one embeddings request. */
export async function embeddings(req: IncomingMessage, res: ServerResponse, openai: OpenAIService): Promise<void> {
  const read = await readRequest(req, res, embeddingsBody);
  if (!read) return;
  const { json, body } = read;
  const inputs = typeof body.input === 'string' ? [body.input] : body.input;

  const controller = abortOnHangUp(res);
  let response: EmbeddingResponse;
  try {
    response = await openai.embed(inputs, body.model, { signal: controller.signal, forward: json });
  } catch (error) {
    if (controller.signal.aborted) return;
    const failure = mapFailure(error);
    return sendJson(res, failure.status, failure.body, failure.headers);
  }
  if (controller.signal.aborted) return;
  // The endpoint's answer, as it sent it: its encoding, its model name, its usage.
  if (response.raw) return sendJson(res, 200, response.raw, answerHeaders(response));
  const length = response.vectors[0]?.length ?? 0;
  if (body.dimensions != null && body.dimensions !== length) {
    // Cutting a vector short is only meaningful for models trained for it; this one was not known to be.
    return sendJson(res, 400, openAIError(400, `dimensions: the local embedding model "${response.model}" makes vectors of ${length} dimensions only; leave dimensions out, or ask for ${length}.`, 'invalid_value', 'dimensions'), answerHeaders(response));
  }
  sendJson(res, 200, embeddingsObject(response, body.encoding_format ?? 'float'), answerHeaders(response));
}

/** OpenAI's `list` of `embedding` objects, in input order. */
export function embeddingsObject(response: EmbeddingResponse, format: 'float' | 'base64') {
  return {
    object: 'list',
    data: response.vectors.map((vector, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? toBase64(vector) : vector.map(Math.fround) })),
    model: response.model,
    usage: { prompt_tokens: response.usage.inputTokens, total_tokens: response.usage.inputTokens },
  };
}

/** Little-endian float32 bytes in base64, as OpenAI encodes them: the floats above decode from it exactly. */
function toBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
