/**
 * The OpenAI Chat Completions wire format: request validation, response and chunk shapes, and errors in
 * OpenAI's `{ error: { message, type, code, param } }` form so existing clients and SDKs understand them.
 */
import { z } from 'zod';
import type { ErrorCode } from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import type { Capability, ChatMessage, CompletionResponse, MessagePart, StopReason } from '../core/types.js';
import { toAppError } from '../services/errors.js';
import { errorHeaders, statusFor } from './http-status.js';
import { checkToolChoice, checkToolTurns, toolCallsOf, toolFields } from './openai-tools.js';
import { samplingFields } from './openai-sampling.js';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().min(1).max(20_000_000), detail: z.enum(['auto', 'low', 'high']).nullish() }),
});
const maxTokens = z.number().int().min(1).max(1_000_000).nullish();

const toolCall = z.object({
  id: z.string().max(200),
  type: z.literal('function'),
  function: z.object({ name: z.string().max(200), arguments: z.string() }),
});

// Function tools are checked; other kinds (an endpoint's newer ones) travel on for the endpoint to judge.
const toolSpec = z.looseObject({
  type: z.string().max(100),
  function: z.looseObject({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, underscores or dashes'),
    description: z.string().max(100_000).nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
  }).optional(),
}).refine((tool) => tool.type !== 'function' || tool.function !== undefined, { message: 'a function tool needs its "function"', path: ['function'] });

const toolChoice = z.union([
  z.enum(['auto', 'none', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().max(200) }) }),
  z.looseObject({ type: z.string().max(100).refine((type) => type !== 'function') }),
], { error: 'must be "auto", "none", "required" or {"type": "function", "function": {"name": …}}' });

/**
 * The fields Spillway reads, checked; every other field (and these too) travels on unchanged to an
 * endpoint the request is forwarded to.
 */
export const chatCompletionBody = z.looseObject({
  model: z.string().max(200).nullish(),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
        content: z.union([z.string(), z.array(z.union([textPart, imagePart])), z.null()], {
          error: 'must be a string or an array of {"type": "text"} and {"type": "image_url"} parts',
        }).optional(),
        tool_calls: z.array(toolCall).nullish(),
        tool_call_id: z.string().max(200).nullish(),
      }),
    )
    .min(1, 'must contain at least one message')
  .superRefine(checkToolTurns),
  max_tokens: maxTokens,
  max_completion_tokens: maxTokens,
  temperature: z.number().min(0).max(2).nullish(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  tools: z.array(toolSpec).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // stop, top_p, penalties, logit_bias, response_format, logprobs and n (see openai-sampling.ts).
  ...samplingFields,
}).superRefine(checkToolChoice);

export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;

/**
 * The body's messages as drivers take them: `developer` is `system`, text-only parts are joined by
 * newlines, image parts kept. Tool turns keep their calls and the ids their results answer.
 */
export function toChatMessages(body: ChatCompletionBody): ChatMessage[] {
  return body.messages.map((m): ChatMessage => {
    const role = m.role === 'developer' ? 'system' : m.role;
    const content = m.content ?? '';
    // Tool turns keep their structure: the local model's chat template has its own syntax for them.
    const tool = toolFields(m);
    if (typeof content === 'string') return { role, content, ...tool };
    const parts: MessagePart[] = content.map((part) => (part.type === 'text' ? { type: 'text', text: part.text } : { type: 'image', url: part.image_url.url }));
    if (parts.every((part) => part.type === 'text')) return { role, content: parts.map((part) => (part as { text: string }).text).join('\n'), ...tool };
    return { role, content: parts, ...tool };
  });
}

/** What the request needs beyond text chat: tools when it offers tools (and does not forbid them) or carries tool turns. */
export function chatNeeds(body: ChatCompletionBody): Capability[] {
  const offersTools = (body.tools?.length ?? 0) > 0 && body.tool_choice !== 'none';
  const toolTurns = body.messages.some((m) => m.role === 'tool' || (m.tool_calls?.length ?? 0) > 0);
  return offersTools || toolTurns ? ['tools'] : [];
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

/** An OpenAI-style error body; the type follows from the status as OpenAI's own API does it. */
export function openAIError(status: number, message: string, code: string | null = null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type: errorType(status), code, param } };
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** A 400 naming the first invalid field, e.g. `messages[0].content`. */
export function invalidBodyError(error: z.ZodError): OpenAIErrorBody {
  const issue = error.issues[0];
  const param = (issue?.path ?? []).map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
  const message = issue ? `${param ? `${param}: ` : ''}${issue.message}` : 'Invalid request body.';
  return openAIError(400, message, 'invalid_value', param || null);
}

/** Codes OpenAI clients already recognise (LangChain and others trim history on this one). */
const OPENAI_CODES: Partial<Record<ErrorCode, string>> = { CONTEXT_OVERFLOW: 'context_length_exceeded' };

export interface MappedFailure {
  status: number;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

/** Maps anything a routed completion threw (or an incomplete answer's failure) to status, body and headers. */
export function mapFailure(error: unknown): MappedFailure {
  const appError = toAppError(error);
  const status = statusFor(appError.code);
  return { status, body: openAIError(status, appError.message, OPENAI_CODES[appError.code] ?? appError.code.toLowerCase()), headers: errorHeaders(appError) };
}

/** The error for an answer that broke off mid-stream. */
export function incompleteFailure(response: CompletionResponse): MappedFailure | null {
  if (!response.incomplete) return null;
  const failure = DriverError.fromData(response.incomplete);
  return mapFailure(new DriverError(failure.kind, `The answer broke off after ${response.text.length} characters: ${failure.message}`));
}

/**
 * OpenAI has no word for an answer ended by a model switch; `length` is the one that tells clients the text
 * was cut short (the SDK's parse() then refuses to parse it), where `stop` would pass it off as complete.
 */
export function finishReason(stop: StopReason): 'stop' | 'length' {
  return stop === 'length' || stop === 'switched' ? 'length' : 'stop';
}

/** A chat answer's finish reason: `tool_calls` when it ended at its calls; `length` when cut short (calls and all). */
export function answerFinishReason(response: CompletionResponse): 'stop' | 'length' | 'tool_calls' {
  const reason = finishReason(response.stopReason);
  return reason === 'stop' && response.toolCalls?.length ? 'tool_calls' : reason;
}

export function usageOf(response: CompletionResponse) {
  const { inputTokens, outputTokens } = response.usage;
  return { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

/** A complete `chat.completion` object. */
export function completionBody(id: string, created: number, response: CompletionResponse) {
  return {
    id,
    object: 'chat.completion',
    created,
    model: response.model,
    choices: [{ index: 0, message: { role: 'assistant', content: response.text, ...toolCallsOf(response) }, logprobs: null, finish_reason: answerFinishReason(response) }],
    usage: usageOf(response),
  };
}

/** One `chat.completion.chunk`; with include_usage, every chunk but the last carries `usage: null`, as OpenAI's do. */
export function chunkBody(
  id: string,
  created: number,
  model: string,
  delta: { role?: 'assistant'; content?: string | null; tool_calls?: unknown[] },
  finish: 'stop' | 'length' | 'tool_calls' | null,
  includeUsage: boolean,
) {
  return {
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** The last chunk when usage was asked for: no choices, just the token counts. */
export function usageChunkBody(id: string, created: number, response: CompletionResponse) {
  return { id, object: 'chat.completion.chunk', created, model: response.model, choices: [], usage: usageOf(response) };
}
