/**
 * The OpenAI-compatible API over the route: `POST /v1/chat/completions` (streaming or not), `GET
 * /v1/models` and `GET /v1/models/{id}`. Any OpenAI client can point its base URL here and get local-first
 * answers. A request that an endpoint answers reaches it as the client sent it (only `model` becomes the
 * endpoint's), and everything the endpoint sends back reaches the client. The `model` field and the
 * X-Spillway-* headers say who really answered: the kind of entry (`local` or `remote`), its id, and how far
 * the request travelled.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompletionRequest, CompletionResponse, RouteAnnouncement, TokenLogprob } from '../core/types.js';
import type { OpenAIService } from '../services/openai-service.js';
import { sendJson } from './http-util.js';
import { completions } from './openai-completions.js';
import { embeddings } from './openai-embeddings.js';
import { abortOnHangUp, answerHeaders, readRequest } from './openai-http.js';
import {
  answerFinishReason,
  chatCompletionBody,
  chatNeeds,
  chunkBody,
  completionBody,
  incompleteFailure,
  mapFailure,
  openAIError,
  toChatMessages,
  usageChunkBody,
  type ChatCompletionBody,
  type MappedFailure,
} from './openai-format.js';
import { toolCallChunkDelta, toolRequest } from './openai-tools.js';
import { choicesBody, choicesUsageChunk, forChoice } from './openai-choices.js';
import { samplingConflict, samplingOf } from './openai-sampling.js';
import { openEventStream, writeEvent } from './sse.js';

const MODEL_PATH = /^\/v1\/models\/(.+)$/;

/** Answers one request under /v1. */
export async function handleOpenAI(req: IncomingMessage, res: ServerResponse, path: string, openai: OpenAIService): Promise<void> {
  if (path === '/v1/models') {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    return sendJson(res, 200, { object: 'list', data: openai.models().map(modelObject) });
  }
  const modelPath = MODEL_PATH.exec(path);
  if (modelPath) {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const id = safeDecode(modelPath[1]!);
    const model = id === null ? null : openai.model(id);
    if (!model) return sendJson(res, 404, openAIError(404, `The model "${id ?? modelPath[1]}" does not exist here.`, 'model_not_found', 'model'));
    return sendJson(res, 200, modelObject(model));
  }
  if (path === '/v1/completions') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return completions(req, res, openai);
  }
  if (path === '/v1/embeddings') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return embeddings(req, res, openai);
  }
  if (path === '/v1/chat/completions') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return chatCompletions(req, res, openai);
  }
  sendJson(res, 404, openAIError(404, `Spillway has no endpoint ${req.method} ${path}; it serves /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models.`, 'unknown_url'));
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, openAIError(405, `Use ${allow} for this endpoint.`, 'method_not_allowed'), { allow });
}

function modelObject(model: { id: string; ownedBy: string }) {
  return { id: model.id, object: 'model', created: 0, owned_by: model.ownedBy };
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

async function chatCompletions(req: IncomingMessage, res: ServerResponse, openai: OpenAIService): Promise<void> {
  const read = await readRequest(req, res, chatCompletionBody);
  if (!read) return;
  const { json, body } = read;
  const conflict = samplingConflict(body);
  if (conflict) return sendJson(res, 400, openAIError(400, conflict.message, 'invalid_value', conflict.param));

  const controller = abortOnHangUp(res);
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const request: CompletionRequest = {
    messages: toChatMessages(body),
    signal: controller.signal,
    needs: chatNeeds(body),
    // An endpoint gets the client's own body, unknown fields included.
    forward: { operation: 'chat', body: json },
    ...(maxTokens == null ? {} : { maxTokens }),
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.seed == null ? {} : { seed: body.seed }),
    ...toolRequest(body),
    ...samplingOf(body),
  };
  if (body.stream) return streamCompletion(res, openai, request, body);

  let failure: MappedFailure | null;
  try {
    const responses = await openai.completeChoices(request, body.model, body.n ?? 1);
    const response = responses[0]!;
    if (controller.signal.aborted) return;
    failure = responses.map(incompleteFailure).find((f) => f !== null) ?? null;
    const plain = responses.length === 1 && request.logprobs === undefined;
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    // An endpoint's whole answer goes back as it sent it: tool calls, logprobs, refusals, reasoning, usage details.
    const answer = response.raw ?? (plain ? completionBody(id, created, response) : choicesBody(id, created, responses, request.logprobs !== undefined));
    if (!failure) return sendJson(res, 200, answer, answerHeaders(response));
  } catch (error) {
    if (controller.signal.aborted) return;
    failure = mapFailure(error);
  }
  sendJson(res, failure.status, failure.body, failure.headers);
}

/**
 * Streams the answer. Headers wait for the first output (or the end): only then is it known which entry
 * answers, and the headers must say so. The local model's text becomes chunks here; an endpoint's chunks
 * pass through as it sent them.
 */
async function streamCompletion(res: ServerResponse, openai: OpenAIService, request: CompletionRequest, body: ChatCompletionBody): Promise<void> {
  const includeUsage = body.stream_options?.include_usage === true;
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  let model = '';
  let started = false;
  const start = (who: Parameters<typeof answerHeaders>[0], knownModel: string): void => {
    started = true;
    model = knownModel;
    openEventStream(res, answerHeaders(who));
  };
  // The router says which entry it hands the request to before that entry streams; until the end only the
  // configured model name is known, and the last chunks carry the name the entry reported.
  let route: RouteAnnouncement = { entryId: 'local', entryKind: 'local', model: '', tier: 'sovereign' };
  // On the local model: which choice the text belongs to, which choices have begun, and the log
  // probabilities of the tokens behind the next piece of text.
  let choice = 0;
  const begun = new Set<number>();
  const withLogprobs = request.logprobs !== undefined;
  let logprobs: TokenLogprob[] = [];
  const completion = openai.completeChoices(
    {
      ...request,
      forward: {
        ...request.forward!,
        onChunk: (chunk) => {
          if (!started) start(route, route.model);
          writeEvent(res, chunk);
        },
      },
      onRoute: (r) => {
        route = r;
      },
      onLogprobs: (tokens) => {
        logprobs.push(...tokens);
      },
      onText: (text) => {
        // An endpoint's chunks were written as they came; only the local model's text is made into chunks.
        if (route.entryKind === 'remote' || text === '') return;
        if (!started) start(route, route.model);
        if (!begun.has(choice)) {
          begun.add(choice);
          writeEvent(res, forChoice(chunkBody(id, created, model, { role: 'assistant', content: '' }, null, includeUsage), choice, null));
        }
        writeEvent(res, forChoice(chunkBody(id, created, model, { content: text }, null, includeUsage), choice, withLogprobs ? logprobs : null));
        logprobs = [];
      },
      onToolCall: (delta) => {
        if (route.entryKind === 'remote') return;
        if (!started) start(route, route.model);
        if (!begun.has(choice)) {
          begun.add(choice);
          writeEvent(res, forChoice(chunkBody(id, created, model, { role: 'assistant', content: null }, null, includeUsage), choice, null));
        }
        writeEvent(res, forChoice(chunkBody(id, created, model, toolCallChunkDelta(delta), null, includeUsage), choice, null));
      },
    },
    body.model,
    body.n ?? 1,
    (index) => {
      choice = index;
    },
  );

  const fail = (failure: MappedFailure): void => {
    if (!started) return sendJson(res, failure.status, failure.body, failure.headers);
    // Past the headers the status is spent: OpenAI's own streams report late failures as an error event.
    writeEvent(res, failure.body);
    res.end();
  };
  let responses: CompletionResponse[];
  try {
    responses = await completion;
  } catch (error) {
    if (request.signal?.aborted) return void res.end();
    return fail(mapFailure(error));
  }
  const response = responses[0]!;
  if (request.signal?.aborted) return void res.end();
  const failure = responses.map(incompleteFailure).find((f) => f !== null) ?? null;
  if (failure) return fail(failure);
  if (response.entryKind === 'remote') {
    // The endpoint sent its own finish and usage chunks.
    if (!started) start(response, response.model);
    writeEvent(res, '[DONE]');
    return void res.end();
  }
  if (!started) start(response, response.model);
  responses.forEach((answer, index) => {
    if (!begun.has(index)) writeEvent(res, forChoice(chunkBody(id, created, response.model, { role: 'assistant', content: '' }, null, includeUsage), index, null));
    writeEvent(res, forChoice(chunkBody(id, created, response.model, {}, answerFinishReason(answer), includeUsage), index, null));
  });
  if (includeUsage) writeEvent(res, responses.length > 1 ? choicesUsageChunk(id, created, responses) : usageChunkBody(id, created, response));
  writeEvent(res, '[DONE]');
  res.end();
}
