/**
 * What every /v1 route shares: reading a JSON body (with OpenAI-style errors) and the headers that say who
 * answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { CompletionResponse, RouteAnnouncement } from '../core/types.js';
import { BodyError, readBody, sendJson } from './http-util.js';
import { invalidBodyError, openAIError } from './openai-format.js';

/** Who answered, as headers: the kind of entry, its id, and the tier of where the request went. */
export function answerHeaders(who: Pick<RouteAnnouncement, 'entryId' | 'entryKind' | 'tier'> | Pick<CompletionResponse, 'entryId' | 'entryKind' | 'tier'>): Record<string, string> {
  return {
    'x-spillway-driver': who.entryKind ?? 'local',
    'x-spillway-endpoint': who.entryId,
    'x-spillway-tier': who.tier ?? 'sovereign',
  };
}

/** Reads and parses a JSON body; on failure the error answer has been sent and null is returned. */
export async function readJson(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | null> {
  let raw: string;
  try {
    raw = await readBody(req);
  } catch (error) {
    const status = error instanceof BodyError ? error.status : 400;
    sendJson(res, status, openAIError(status, error instanceof Error ? error.message : 'Unreadable body.'));
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    sendJson(res, 400, openAIError(400, 'The request body is not valid JSON.', 'invalid_json'));
    return null;
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) return json as Record<string, unknown>;
  sendJson(res, 400, openAIError(400, 'The request body must be a JSON object.', 'invalid_json'));
  return null;
}

/**
 * Reads the body and checks it against the route's schema. Returns the body as the client sent it (an
 * endpoint gets exactly that) and as checked; on failure the 400 has been sent and null is returned.
 */
export async function readRequest<T>(req: IncomingMessage, res: ServerResponse, schema: z.ZodType<T>): Promise<{ json: Record<string, unknown>; body: T } | null> {
  const json = await readJson(req, res);
  if (!json) return null;
  const parsed = schema.safeParse(json);
  if (parsed.success) return { json, body: parsed.data };
  sendJson(res, 400, invalidBodyError(parsed.error));
  return null;
}

/** Aborts when the client hangs up before its answer is complete: a local model would otherwise keep the machine busy for nobody. */
export function abortOnHangUp(res: ServerResponse): AbortController {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller;
}
