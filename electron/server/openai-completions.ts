/**
 * `POST /v1/completions`, OpenAI's legacy text completions: the prompt is continued as it is, with no chat
 * template. The local model answers through node-llama-cpp's LlamaCompletion, with OpenAI's defaults
 * (`max_tokens` 16) and its `text_completion` objects, streaming or not. A request an endpoint answers
 * reaches it as the client sent it (only `model` becomes the endpoint's), and everything the endpoint
 * sends back reaches the client as it is.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { CompletionRequest, CompletionResponse, RouteAnnouncement, TextPrompt } from '../core/types.js';
import type { OpenAIService } from '../services/openai-service.js';
import { sendJson } from './http-util.js';
import { finishReason, incompleteFailure, mapFailure, type MappedFailure } from './openai-format.js';
import { abortOnHangUp, answerHeaders, readRequest } from './openai-http.js';
import { openEventStream, writeEvent } from './sse.js';

/** OpenAI's default for legacy completions: a short continuation, not the whole context. */
export const DEFAULT_MAX_TOKENS = 16;

const tokenArrays = 'token arrays are not supported here; send the text (a string or an array of strings)';
const notTokens = (issue: { input: unknown }) =>
  Array.isArray(issue.input) && issue.input.some((item) => typeof item !== 'string') ? tokenArrays : 'must be a string or an array of strings';

/** The fields Spillway reads, checked; every field travels on unchanged to an endpoint the request is forwarded to. */
export const completionsBody = z.looseObject({
  model: z.string().max(200).nullish(),
  prompt: z.union([z.string(), z.array(z.string(), { error: tokenArrays }).min(1, 'must contain at least one prompt').max(64, 'must contain at most 64 prompts')], { error: notTokens }),
  max_tokens: z.number().int().min(1).max(1_000_000).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4, 'must contain at most 4 sequences')], { error: 'must be a string or an array of up to 4 strings' }).nullish(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  best_of: z.number().int().min(1).max(20).nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
  user: z.string().max(1000).nullish(),
});

export type CompletionsBody = z.infer<typeof completionsBody>;

/** Answers one legacy completion request. */
export async function completions(req: IncomingMessage, res: ServerResponse, openai: OpenAIService): Promise<void> {
  const read = await readRequest(req, res, completionsBody);
  if (!read) return;
  const { json, body } = read;
  const controller = abortOnHangUp(res);
  const prompts = typeof body.prompt === 'string' ? [body.prompt] : body.prompt;
  const requests = prompts.map((text, index): CompletionRequest => ({
    // Drivers that read messages (byte counts, a chat-only endpoint) see the prompt as one user turn.
    messages: [{ role: 'user', content: text }],
    prompt: textPrompt(text, body),
    signal: controller.signal,
    maxTokens: body.max_tokens ?? DEFAULT_MAX_TOKENS,
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.seed == null ? {} : { seed: body.seed }),
    // The first request carries the client's whole body: an endpoint answers every prompt of it at once.
    ...(index === 0 ? { forward: { operation: 'completion', body: json } } : {}),
  }));
  const run = new LegacyRun(res, openai, body, prompts, requests, controller.signal);
  await (body.stream ? run.stream() : run.whole());
}

function textPrompt(text: string, body: CompletionsBody): TextPrompt {
  const stop = body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    text,
    ...(stop ? { stop } : {}),
    ...(body.top_p == null ? {} : { topP: body.top_p }),
    ...(body.suffix == null ? {} : { suffix: body.suffix }),
    // best_of makes several completions and returns the best: as many generations as n does.
    ...(body.n == null && body.best_of == null ? {} : { n: Math.max(body.n ?? 1, body.best_of ?? 1) }),
    ...(body.logprobs == null ? {} : { logprobs: body.logprobs }),
  };
}

/**
 * One request's prompts. The first is routed (with the client's body, for an endpoint); when the local
 * model answers it, the other prompts follow on the same entry, one after another, as choices 1, 2, …
 */
class LegacyRun {
  private readonly id = `cmpl-${randomUUID()}`;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly res: ServerResponse,
    private readonly openai: OpenAIService,
    private readonly body: CompletionsBody,
    private readonly prompts: string[],
    private readonly requests: CompletionRequest[],
    private readonly signal: AbortSignal,
  ) {}

  async whole(): Promise<void> {
    const answers: CompletionResponse[] = [];
    let failure: MappedFailure | null = null;
    try {
      for (const [index, request] of this.requests.entries()) {
        const response = await this.answer(index, request, answers[0]);
        if (this.signal.aborted) return;
        // An endpoint's whole answer goes back as it sent it: all its choices, logprobs, usage details.
        if (response.raw) return sendJson(this.res, 200, response.raw, answerHeaders(response));
        failure = incompleteFailure(response);
        if (failure) break;
        answers.push(response);
      }
    } catch (error) {
      if (this.signal.aborted) return;
      failure = mapFailure(error);
    }
    if (failure) return sendJson(this.res, failure.status, failure.body, failure.headers);
    const first = answers[0]!;
    sendJson(
      this.res,
      200,
      {
        id: this.id,
        object: 'text_completion',
        created: this.created,
        model: first.model,
        choices: answers.map((answer, index) => ({ text: this.echoed(index) + answer.text, index, logprobs: null, finish_reason: finishReason(answer.stopReason) })),
        usage: usageOf(answers),
      },
      answerHeaders(first),
    );
  }

  /**
   * Streams every prompt's completion. Headers wait for the first output: only then is it known which entry
   * answers. An endpoint's chunks pass through as it sent them; the local model's text becomes chunks here.
   */
  async stream(): Promise<void> {
    const includeUsage = this.body.stream_options?.include_usage === true;
    let started = false;
    let route: RouteAnnouncement = { entryId: 'local', entryKind: 'local', model: '', tier: 'sovereign' };
    const start = (who: Parameters<typeof answerHeaders>[0]): void => {
      if (started) return;
      started = true;
      openEventStream(this.res, answerHeaders(who));
    };
    const chunk = (model: string, index: number, text: string, finish: 'stop' | 'length' | null) => ({
      id: this.id,
      object: 'text_completion',
      created: this.created,
      model,
      choices: [{ text, index, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    const fail = (failure: MappedFailure): void => {
      if (!started) return sendJson(this.res, failure.status, failure.body, failure.headers);
      // Past the headers the status is spent: OpenAI's own streams report late failures as an error event.
      writeEvent(this.res, failure.body);
      this.res.end();
    };
    const answers: CompletionResponse[] = [];
    for (const [index, base] of this.requests.entries()) {
      let echoed = false;
      const echo = (model: string): void => {
        if (echoed) return;
        echoed = true;
        if (this.body.echo) writeEvent(this.res, chunk(model, index, this.prompts[index]!, null));
      };
      const request: CompletionRequest = {
        ...base,
        ...(base.forward
          ? {
              forward: {
                ...base.forward,
                onChunk: (raw) => {
                  start(route);
                  writeEvent(this.res, raw);
                },
              },
            }
          : {}),
        onRoute: (r) => {
          route = r;
        },
        onText: (text) => {
          if (route.entryKind === 'remote' || text === '') return;
          start(route);
          echo(route.model);
          writeEvent(this.res, chunk(route.model, index, text, null));
        },
      };
      let response: CompletionResponse;
      try {
        response = await this.answer(index, request, answers[0]);
      } catch (error) {
        if (this.signal.aborted) return void this.res.end();
        return fail(mapFailure(error));
      }
      if (this.signal.aborted) return void this.res.end();
      const failure = incompleteFailure(response);
      if (failure) return fail(failure);
      if (response.entryKind === 'remote') {
        // The endpoint answered every prompt and sent its own finish and usage chunks.
        start(response);
        writeEvent(this.res, '[DONE]');
        return void this.res.end();
      }
      start(response);
      echo(response.model);
      writeEvent(this.res, chunk(response.model, index, '', finishReason(response.stopReason)));
      answers.push(response);
    }
    if (includeUsage) writeEvent(this.res, { id: this.id, object: 'text_completion', created: this.created, model: answers[0]!.model, choices: [], usage: usageOf(answers) });
    writeEvent(this.res, '[DONE]');
    this.res.end();
  }

  /** The first prompt is routed by the `model` field; the others go to the entry that answered it. */
  private answer(index: number, request: CompletionRequest, first: CompletionResponse | undefined): Promise<CompletionResponse> {
    if (index === 0 || !first) return this.openai.complete(request, this.body.model);
    return this.openai.completeOn(request, first.entryId);
  }

  /** The prompt before its completion when the client asked for `echo`. */
  private echoed(index: number): string {
    return this.body.echo ? this.prompts[index]! : '';
  }
}

function usageOf(answers: CompletionResponse[]) {
  const prompt = answers.reduce((sum, a) => sum + a.usage.inputTokens, 0);
  const completion = answers.reduce((sum, a) => sum + a.usage.outputTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
