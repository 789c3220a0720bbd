import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { DriverError, isAbortError } from '../core/errors.js';
import { CONNECTION_FAILURES, errnoCode, parseRetryAfterMs, TIMEOUT_FAILURES } from '../core/net.js';
import type { DriverErrorKind } from '../core/types.js';

/** What an error message may mention about the request that failed. */
export interface RemoteErrorContext {
  /** Host (and port) of the endpoint, for messages a user can act on. */
  host: string;
  model: string;
  timeoutMs: number;
  /** Scrubbed from every message, in case a server echoes it back. */
  apiKey?: string;
  /** `models` when listing models, where a 404 means a wrong base URL rather than a missing model. */
  operation?: 'chat' | 'models';
}

/** Servers word context overflow differently (OpenAI, vLLM, llama.cpp, Ollama, LM Studio, Anthropic-style proxies). */
const CONTEXT_OVERFLOW =
  /context[\s_-]*(length|window|size|limit)|maximum context|too many tokens|prompt is too long|input is too long|context.{0,20}overflow|exceeds?.{0,40}context/i;

/** Turns anything the OpenAI SDK or the stream throws into a DriverError whose message names the host, never the key. */
export function mapRemoteError(error: unknown, ctx: RemoteErrorContext): DriverError {
  if (error instanceof DriverError) return error;
  const make = (kind: DriverErrorKind, message: string, retryAfterMs?: number) =>
    new DriverError(kind, scrub(message, ctx.apiKey), {
      cause: error,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  const where = `The model server at ${ctx.host}`;

  if (error instanceof APIUserAbortError || (isAbortError(error) && !(error instanceof APIError))) {
    return make('aborted', 'The request was cancelled.');
  }
  if (error instanceof APIConnectionTimeoutError) {
    return make('timeout', `${where} did not answer within ${ctx.timeoutMs} ms.`);
  }
  if (error instanceof APIConnectionError) return make('network', `${where} ${networkReason(error)}`);
  if (error instanceof APIError) {
    const status = error.status ?? numericStatus(error.error);
    const detail = serverDetail(error);
    const said = detail ? ` It said: ${detail}` : '';
    if (status === undefined) return fromStreamedError(error, detail, where, ctx, make);
    if (status === 408) return make('timeout', `${where} timed out handling the request.${said}`);
    if (status === 429) {
      const retryAfterMs = parseRetryAfterMs(error.headers);
      const wait = retryAfterMs === undefined ? '' : ` It asked to wait ${Math.ceil(retryAfterMs / 1000)} s.`;
      return make('rate_limited', `${where} is rate limiting requests.${wait}${said}`, retryAfterMs);
    }
    if (status >= 500) return make('inference_failed', `${where} failed with HTTP ${status}.${said}`);
    if (status === 401) return make('auth', `${where} rejected the API key (HTTP 401). Check the key in settings.`);
    if (status === 403) return make('auth', `${where} refused access (HTTP 403). Check the API key and its permissions.`);
    if (status === 404) {
      return ctx.operation === 'models'
        ? make('model_not_found', `${where} has no model list at this address (HTTP 404); check the base URL.`)
        : make('model_not_found', `${where} has no model named "${ctx.model}" (HTTP 404); check the model name and base URL.${said}`);
    }
    if (isContextOverflow(error, detail) || status === 413) {
      return make('context_overflow', `The conversation is too long for ${ctx.model} at ${ctx.host}.${said}`);
    }
    return make('invalid_request', `${where} rejected the request (HTTP ${status}).${said}`);
  }
  if (error instanceof SyntaxError) {
    return make('inference_failed', `${where} sent a malformed response that could not be read.`);
  }
  if (error instanceof TypeError && /terminated|fetch failed|socket/i.test(error.message)) {
    return make('network', `${where} ${networkReason(error)}`);
  }
  const message = error instanceof Error && error.message ? error.message : String(error);
  return make('inference_failed', `${where} failed: ${message}`);
}

/** An `error` object inside an HTTP 200 stream carries no status, so classify it by its code or wording. */
function fromStreamedError(
  error: APIError,
  detail: string,
  where: string,
  ctx: RemoteErrorContext,
  make: (kind: DriverErrorKind, message: string) => DriverError,
): DriverError {
  const code = `${error.code ?? ''} ${error.type ?? ''}`.toLowerCase();
  const said = detail ? `: ${detail}` : '.';
  if (isContextOverflow(error, detail)) return make('context_overflow', `The conversation is too long for ${ctx.model} at ${ctx.host}${said}`);
  if (code.includes('rate_limit')) return make('rate_limited', `${where} is rate limiting requests${said}`);
  if (code.includes('model_not_found')) return make('model_not_found', `${where} has no model named "${ctx.model}"${said}`);
  if (code.includes('api_key') || code.includes('authentication')) return make('auth', `${where} rejected the API key.`);
  return make('inference_failed', `${where} reported an error mid-answer${said}`);
}

function isContextOverflow(error: APIError, detail: string): boolean {
  return error.code === 'context_length_exceeded' || CONTEXT_OVERFLOW.test(`${error.code ?? ''} ${error.type ?? ''} ${detail}`);
}

/** What the errno code along the cause chain (APIConnectionError → TypeError "fetch failed" → system error) says. */
function networkReason(error: unknown): string {
  const code = errnoCode(error);
  if (CONNECTION_FAILURES[code]) return CONNECTION_FAILURES[code];
  if (TIMEOUT_FAILURES.has(code)) return 'did not accept the connection in time.';
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    if (/terminated|other side closed/i.test(e.message)) return 'dropped the connection before the answer finished.';
  }
  return 'could not be reached.';
}

/** The server's own explanation, trimmed so a huge HTML error page cannot flood the UI. */
function serverDetail(error: APIError): string {
  const body = error.error as { message?: unknown } | string | undefined;
  const raw =
    typeof body === 'string' ? body
    : typeof body?.message === 'string' ? body.message
    : error.message.replace(/^\d{3}\s*/, '').replace(/^status code \(no body\)$/, '');
  const text = raw.replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Some servers put the HTTP status inside an in-stream error (`{"error":{"code":500}}`). */
function numericStatus(body: unknown): number | undefined {
  const b = body as { status?: unknown; code?: unknown } | undefined;
  for (const value of [b?.status, b?.code]) {
    if (typeof value === 'number' && value >= 400 && value < 600) return value;
  }
  return undefined;
}

export { parseRetryAfterMs };

function scrub(message: string, apiKey: string | undefined): string {
  return apiKey && apiKey.length >= 4 ? message.split(apiKey).join('[redacted]') : message;
}
