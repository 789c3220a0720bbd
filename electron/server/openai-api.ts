/**
 * The OpenAI-compatible API over the route: `POST /v1/chat/completions` (streaming or not) and
 * `GET /v1/models`. Any OpenAI client can point its base URL here and get local-first answers; the `model`
 * field and the X-Spillway-* headers say who really answered: the kind of entry (`local` or `remote`), its
 * id, and how far the request travelled.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompletionRequest, CompletionResponse, RouteAnnouncement } from '../core/types.js';
import type { OpenAIService } from '../services/openai-service.js';
import { BodyError, readBody, sendJson } from './http-util.js';
import {
  chatCompletionBody,
  chunkBody,
  completionBody,
  finishReason,
  incompleteFailure,
  invalidBodyError,
  mapFailure,
  openAIError,
  toChatMessages,
  usageChunkBody,
  type MappedFailure,
} from './openai-format.js';
import { openEventStream, writeEvent } from './sse.js';

/** Answers one request under /v1. */
export async function handleOpenAI(req: IncomingMessage, res: ServerResponse, path: string, openai: OpenAIService): Promise<void> {
  if (path === '/v1/models') {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    return sendJson(res, 200, { object: 'list', data: listModels(openai) });
  }
  if (path === '/v1/chat/completions') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return chatCompletions(req, res, openai);
  }
  sendJson(res, 404, openAIError(404, `Spillway has no endpoint ${req.method} ${path}; it serves /v1/chat/completions and /v1/models.`, 'unknown_url'));
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, openAIError(405, `Use ${allow} for this endpoint.`, 'method_not_allowed'), { allow });
}

function listModels(openai: OpenAIService) {
  return openai.models().map((model) => ({ id: model.id, object: 'model', created: 0, owned_by: model.ownedBy }));
}

/** Who answered, as headers: the kind of entry, its id, and the tier of where the request went. */
function answerHeaders(who: Pick<RouteAnnouncement, 'entryId' | 'entryKind' | 'tier'> | Pick<CompletionResponse, 'entryId' | 'entryKind' | 'tier'>): Record<string, string> {
  return {
    'x-spillway-driver': who.entryKind ?? 'local',
    'x-spillway-endpoint': who.entryId,
    'x-spillway-tier': who.tier ?? 'sovereign',
  };
}

async function chatCompletions(req: IncomingMessage, res: ServerResponse, openai: OpenAIService): Promise<void> {
  let raw: string;
  try {
    raw = await readBody(req);
  } catch (error) {
    const status = error instanceof BodyError ? error.status : 400;
    return sendJson(res, status, openAIError(status, error instanceof Error ? error.message : 'Unreadable body.'));
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return sendJson(res, 400, openAIError(400, 'The request body is not valid JSON.', 'invalid_json'));
  }
  const parsed = chatCompletionBody.safeParse(json);
  if (!parsed.success) return sendJson(res, 400, invalidBodyError(parsed.error));
  const body = parsed.data;

  // A client that hangs up stops the generation: a local model would otherwise keep the machine busy for nobody.
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const request: CompletionRequest = {
    messages: toChatMessages(body),
    signal: controller.signal,
    ...(maxTokens == null ? {} : { maxTokens }),
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.seed == null ? {} : { seed: body.seed }),
  };
  if (body.stream) return streamCompletion(res, openai, request, body.stream_options?.include_usage === true);

  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  let failure: MappedFailure | null;
  try {
    const response = await openai.complete(request);
    if (controller.signal.aborted) return;
    failure = incompleteFailure(response);
    if (!failure) return sendJson(res, 200, completionBody(id, created, response), answerHeaders(response));
  } catch (error) {
    if (controller.signal.aborted) return;
    failure = mapFailure(error);
  }
  sendJson(res, failure.status, failure.body, failure.headers);
}

/**
 * Streams chunks as the router produces text. Headers wait for the first text (or the end): only then is
 * it known whether the local model answered or the request spilled over, and the header must say so.
 */
async function streamCompletion(
  res: ServerResponse,
  openai: OpenAIService,
  request: CompletionRequest,
  includeUsage: boolean,
): Promise<void> {
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  let model = '';
  let started = false;
  const start = (who: Parameters<typeof answerHeaders>[0], knownModel: string): void => {
    started = true;
    model = knownModel;
    openEventStream(res, answerHeaders(who));
    writeEvent(res, chunkBody(id, created, model, { role: 'assistant', content: '' }, null, includeUsage));
  };
  // The router says which entry it hands the request to before that entry streams; until the end only
  // the configured model name is known, and the last chunks carry the name the server reported.
  let route: RouteAnnouncement = { entryId: 'local', entryKind: 'local', model: '', tier: 'sovereign' };
  const completion = openai.complete({
    ...request,
    onRoute: (r) => {
      route = r;
    },
    onText: (text) => {
      if (!started) start(route, route.model);
      writeEvent(res, chunkBody(id, created, model, { content: text }, null, includeUsage));
    },
  });

  const fail = (failure: MappedFailure): void => {
    if (!started) return sendJson(res, failure.status, failure.body, failure.headers);
    // Past the headers the status is spent: OpenAI's own streams report late failures as an error event.
    writeEvent(res, failure.body);
    res.end();
  };
  let response;
  try {
    response = await completion;
  } catch (error) {
    if (request.signal?.aborted) return void res.end();
    return fail(mapFailure(error));
  }
  if (request.signal?.aborted) return void res.end();
  const failure = incompleteFailure(response);
  if (failure) return fail(failure);
  if (!started) start(response, response.model);
  writeEvent(res, chunkBody(id, created, response.model, {}, finishReason(response.stopReason), includeUsage));
  if (includeUsage) writeEvent(res, usageChunkBody(id, created, response));
  writeEvent(res, '[DONE]');
  res.end();
}
