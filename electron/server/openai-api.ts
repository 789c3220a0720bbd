/**
 * The OpenAI-compatible API over the router: `POST /v1/chat/completions` (streaming or not) and
 * `GET /v1/models`. Any OpenAI client can point its base URL here and get local-first answers; the
 * `model` field and the X-Spillway-Driver header say who really answered.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { CompletionRequest, DriverRole } from '../core/types.js';
import type { AppServices } from '../services/app-services.js';
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
export async function handleOpenAI(req: IncomingMessage, res: ServerResponse, path: string, services: AppServices): Promise<void> {
  if (path === '/v1/models') {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    return sendJson(res, 200, { object: 'list', data: listModels(services) });
  }
  if (path === '/v1/chat/completions') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return chatCompletions(req, res, services);
  }
  sendJson(res, 404, openAIError(404, `Spillway has no endpoint ${req.method} ${path}; it serves /v1/chat/completions and /v1/models.`, 'unknown_url'));
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, openAIError(405, `Use ${allow} for this endpoint.`, 'method_not_allowed'), { allow });
}

function listModels(services: AppServices) {
  const state = services.routing.state();
  const models = [];
  if (state.hasLocalModel) models.push({ id: localModelName(services), object: 'model', created: 0, owned_by: 'local' });
  if (state.hasCloud) models.push({ id: services.settings().cloud.model, object: 'model', created: 0, owned_by: state.cloudHost ?? 'cloud' });
  return models;
}

/** The local model's name from its metadata once loaded, its file name before (as the local driver reports it). */
function localModelName(services: AppServices): string {
  const status = services.routing.engineStatus();
  return status.info?.modelName ?? basename(status.modelPath ?? 'local').replace(/\.gguf$/i, '');
}

function driverHeader(role: DriverRole | undefined): string {
  return role === 'fallback' ? 'remote' : 'local';
}

async function chatCompletions(req: IncomingMessage, res: ServerResponse, services: AppServices): Promise<void> {
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
  if (body.stream) return streamCompletion(res, services, request, body.stream_options?.include_usage === true);

  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  let failure: MappedFailure | null;
  try {
    const response = await services.complete(request);
    if (controller.signal.aborted) return;
    failure = incompleteFailure(response);
    if (!failure) return sendJson(res, 200, completionBody(id, created, response), { 'x-spillway-driver': driverHeader(response.role) });
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
  services: AppServices,
  request: CompletionRequest,
  includeUsage: boolean,
): Promise<void> {
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  let model = '';
  let started = false;
  const start = (role: DriverRole | undefined, knownModel: string): void => {
    started = true;
    model = knownModel;
    openEventStream(res, { 'x-spillway-driver': driverHeader(role) });
    writeEvent(res, chunkBody(id, created, model, { role: 'assistant', content: '' }, null, includeUsage));
  };
  // The router says which driver it hands the request to before that driver streams; until the end only
  // the configured model name is known, and the last chunks carry the name the server reported.
  let route: { role: DriverRole; model: string } = { role: 'primary', model: '' };
  const completion = services.complete({
    ...request,
    onRoute: (r) => {
      route = r;
    },
    onText: (text) => {
      if (!started) start(route.role, route.model);
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
  if (!started) start(response.role, response.model);
  writeEvent(res, chunkBody(id, created, response.model, {}, finishReason(response.stopReason), includeUsage));
  if (includeUsage) writeEvent(res, usageChunkBody(id, created, response));
  writeEvent(res, '[DONE]');
  res.end();
}
