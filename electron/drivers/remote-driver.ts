/**
 * An endpoint of the route: any OpenAI-compatible Chat Completions server (OpenAI itself, a cloud provider,
 * a LAN server, or a local one such as Ollama), through the official `openai` SDK.
 */
import OpenAI from 'openai';
import type { ChatCompletionContentPart, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CompletionCreateParamsStreaming } from 'openai/resources/completions';
import { CAPABILITIES, type Capability } from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import type { ChatMessage, CompletionRequest, CompletionResponse, EmbedOptions, EmbeddingResponse, LlmDriver, PrivacyTier, StopReason, Usage } from '../core/types.js';
import { messageText } from '../core/types.js';
import { resolveTier } from './privacy.js';
import { mapRemoteError, type RemoteErrorContext } from './remote-errors.js';

export interface RemoteDriverOptions {
  /** Stable id: the entry's id in the route; defaults to `remote`. */
  id?: string;
  /** A name for people; defaults to the host. */
  name?: string;
  /** OpenAI-compatible base URL, usually ending in `/v1`. */
  baseURL: string;
  model: string;
  /** Optional: local servers (Ollama, LM Studio, llama.cpp) accept any key. */
  apiKey?: string;
  /** Defaults to 128000 tokens. */
  contextWindow?: number;
  /** Declared tier: only a tier more permissive than the base URL's is accepted (see `resolveTier`). */
  privacyTier?: PrivacyTier | null;
  /** What the endpoint serves beyond text chat; defaults to everything (an endpoint that cannot will say so). */
  capabilities?: readonly Capability[];
  /** Limit on waiting for response headers and on any silence between streamed chunks; defaults to 60000. */
  requestTimeoutMs?: number;
  /** HTTP 429 retries before any text has streamed; defaults to 2. */
  maxRateLimitRetries?: number;
  /** Longest Retry-After worth waiting for; a longer one fails at once so the router can spill over. Defaults to 10000. */
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

export interface ConnectionTestResult {
  ok: true;
  latencyMs: number;
  models: string[];
  /** What the listing says about the configured model's capabilities, where it says anything. */
  learned: Partial<Record<Capability, boolean>>;
}

/** Sent when no key is configured: the SDK refuses an empty key, and keyless local servers ignore it. */
const PLACEHOLDER_API_KEY = 'not-needed';
/** Used between 429 retries when the server gives no Retry-After. */
const DEFAULT_RATE_LIMIT_BACKOFF_MS = 500;

export class RemoteDriver implements LlmDriver {
  readonly id: string;
  readonly #name: string;
  readonly #host: string;
  readonly #capabilities: readonly Capability[];
  readonly #client: OpenAI;
  readonly #model: string;
  readonly #contextWindow: number;
  readonly #privacyTier: PrivacyTier;
  readonly #timeoutMs: number;
  readonly #maxRateLimitRetries: number;
  readonly #maxRetryAfterMs: number;
  readonly #errorContext: RemoteErrorContext;

  /** Validates the URL up front so a typo fails when settings are saved, not on the first chat. */
  constructor(options: RemoteDriverOptions) {
    let url: URL;
    try {
      url = new URL(options.baseURL);
    } catch {
      throw new DriverError('invalid_request', `The remote base URL "${options.baseURL}" is not a valid URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new DriverError('invalid_request', `The remote base URL must start with http:// or https://.`);
    }
    if (!options.model.trim()) throw new DriverError('invalid_request', 'The remote driver needs a model name.');
    this.id = options.id ?? 'remote';
    this.#host = url.host;
    this.#name = options.name?.trim() || url.host;
    this.#capabilities = options.capabilities ?? CAPABILITIES;
    this.#model = options.model;
    this.#contextWindow = options.contextWindow ?? 128_000;
    this.#privacyTier = resolveTier(options.baseURL, options.privacyTier);
    this.#timeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#maxRateLimitRetries = Math.max(0, options.maxRateLimitRetries ?? 2);
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
    const apiKey = options.apiKey?.trim() || undefined;
    this.#errorContext = { host: url.host, model: options.model, timeoutMs: this.#timeoutMs, ...(apiKey ? { apiKey } : {}) };
    this.#client = new OpenAI({
      baseURL: options.baseURL,
      apiKey: apiKey ?? PLACEHOLDER_API_KEY,
      // Explicit nulls stop the SDK from reading OPENAI_* env vars and sending org ids to third-party servers.
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      timeout: this.#timeoutMs,
      // Retries live in exactly one place (below) so a 429 is never retried twice over and timeouts never multiply.
      maxRetries: 0,
      logLevel: 'off',
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  displayName(): string {
    return this.#name;
  }

  endpointHost(): string {
    return this.#host;
  }

  /** The configured model; the response's `model` reports what actually answered. */
  modelName(): string {
    return this.#model;
  }

  capabilities(): readonly Capability[] {
    return this.#capabilities;
  }

  /** The exact size of the JSON body a completion request sends. */
  requestBytes(request: CompletionRequest): number {
    const body = request.forward ? { ...request.forward.body, model: this.#model } : this.#body(request);
    return Buffer.byteLength(JSON.stringify(body));
  }

  /** Configured rather than probed: compatible servers do not report it consistently. */
  contextWindow(): number {
    return this.#contextWindow;
  }

  /** Derived from the host unless overridden, so a cloud URL can never pass as local by accident. */
  privacyTier(): PrivacyTier {
    return this.#privacyTier;
  }

  /**
   * Streams one completion; a cancel resolves with the partial text, every failure rejects with a
   * DriverError. A forwarded request (the OpenAI-compatible API) sends the client's body as it is, with this
   * endpoint's model, and hands every chunk (or the whole answer) back untouched.
   */
  async complete(request: CompletionRequest): Promise<CompletionResponse> {
    const started = performance.now();
    const signal = request.signal;
    const forward = request.forward;
    const operation = forward?.operation ?? (request.prompt ? 'completion' : 'chat');
    const body: Record<string, unknown> = forward ? { ...forward.body, model: this.#model } : request.prompt ? this.#promptBody(request) : this.#body(request);
    let text = '';
    let deltas = 0;
    let firstTextAt: number | null = null;
    let servedModel = this.#model;
    let usage: Usage | null = null;
    let stopReason: StopReason = 'stop';
    const finish = (reason: StopReason): CompletionResponse => ({
      text,
      entryId: this.id,
      model: servedModel,
      usage: usage ?? { inputTokens: 0, outputTokens: deltas },
      timings: { timeToFirstTokenMs: firstTextAt === null ? null : firstTextAt - started, totalMs: performance.now() - started },
      stopReason: reason,
    });
    const read = (chunk: OpenAIObject, delta: unknown): void => {
      if (typeof chunk.model === 'string' && chunk.model) servedModel = chunk.model;
      const counted = chunk.usage as { prompt_tokens?: number; completion_tokens?: number } | null | undefined;
      if (counted) usage = { inputTokens: counted.prompt_tokens ?? 0, outputTokens: counted.completion_tokens ?? 0 };
      const finishReason = (chunk.choices as Array<{ finish_reason?: string | null }> | undefined)?.[0]?.finish_reason;
      if (finishReason) stopReason = finishReason === 'length' ? 'length' : 'stop';
      if (typeof delta === 'string' && delta.length > 0) {
        firstTextAt ??= performance.now();
        text += delta;
        deltas++;
      }
    };

    if (signal?.aborted) return finish('aborted');
    if (forward && forward.body.stream !== true) {
      const whole = (await this.#create(operation, body, signal)) as OpenAIObject | null;
      if (!whole) return finish('aborted');
      read(whole, firstChoiceText(operation, whole, 'message'));
      return { ...finish(stopReason), raw: whole };
    }
    const stream = (await this.#create(operation, { ...body, stream: true }, signal)) as AsyncIterable<OpenAIObject> & { controller: AbortController } | null;
    if (!stream) return finish('aborted');

    // The SDK's timeout stops at the response headers; this watchdog catches a server that goes silent mid-answer.
    let idleTimedOut = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdleTimer = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idleTimedOut = true;
        stream.controller.abort();
      }, this.#timeoutMs);
    };
    const onAbort = () => stream.controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort(); // cancelled while the headers were arriving: the listener came too late
    armIdleTimer();
    try {
      for await (const chunk of stream) {
        armIdleTimer();
        const delta = firstChoiceText(operation, chunk, 'delta');
        read(chunk, delta);
        if (forward) {
          forward.onChunk?.(chunk);
          // Every forwarded chunk has reached the client, text or not (a tool call): the answer has begun.
          request.onText?.(typeof delta === 'string' ? delta : '');
        } else if (typeof delta === 'string' && delta.length > 0) {
          request.onText?.(delta);
        }
      }
    } catch (error) {
      if (signal?.aborted) return finish('aborted');
      throw this.#mapError(idleTimedOut ? timeoutError(this.#errorContext) : error);
    } finally {
      clearTimeout(idleTimer);
      signal?.removeEventListener('abort', onAbort);
    }
    // The SDK ends the iteration quietly when its controller aborts, so tell the two causes apart here.
    if (signal?.aborted) return finish('aborted');
    if (idleTimedOut) throw timeoutError(this.#errorContext);
    return finish(stopReason);
  }

  /** A cheap `GET /models` so settings can show "connected", offer the server's model names and learn what the model can do. */
  async testConnection(signal?: AbortSignal): Promise<ConnectionTestResult> {
    const started = performance.now();
    try {
      const page = await this.#client.models.list({ ...(signal ? { signal } : {}) });
      const data = page.data ?? [];
      const mine = data.find((m) => m.id === this.#model);
      return { ok: true, latencyMs: performance.now() - started, models: data.map((m) => m.id), learned: mine ? learnCapabilities(mine) : {} };
    } catch (error) {
      throw mapRemoteError(error, { ...this.#errorContext, operation: 'models' });
    }
  }

  /**
   * Embeds each input with the configured model (`POST /embeddings`). A forwarded request sends the
   * client's body as it is, with this endpoint's model, and hands the answer back whole as `raw`.
   */
  async embed(input: string[], signal?: AbortSignal, options: EmbedOptions = {}): Promise<EmbeddingResponse> {
    if (options.forward) {
      const raw = (await this.#create('embeddings', { ...options.forward, model: this.#model }, signal)) as OpenAIObject | null;
      if (!raw) throw new DriverError('aborted', 'The request was cancelled.');
      const usage = raw.usage as { prompt_tokens?: unknown } | undefined;
      const data = Array.isArray(raw.data) ? (raw.data as Array<{ embedding?: unknown }>) : [];
      return {
        entryId: this.id,
        model: typeof raw.model === 'string' && raw.model ? raw.model : this.#model,
        // The vectors stay in the answer as the endpoint encoded them (floats or base64).
        vectors: data.map((d) => (Array.isArray(d.embedding) ? (d.embedding as number[]) : [])),
        usage: { inputTokens: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0 },
        raw,
      };
    }
    try {
      const response = await this.#client.embeddings.create({ model: this.#model, input, encoding_format: 'float' }, signal ? { signal } : {});
      const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      return { entryId: this.id, model: response.model || this.#model, vectors, usage: { inputTokens: response.usage?.prompt_tokens ?? 0 } };
    } catch (error) {
      throw this.#mapError(error);
    }
  }

  #body(request: CompletionRequest): Record<string, unknown> {
    const body: ChatCompletionCreateParamsStreaming = {
      model: this.#model,
      messages: request.messages.map(toOpenAIMessage),
      stream: true,
      stream_options: { include_usage: true },
    };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
    if (request.seed !== undefined) body.seed = request.seed;
    return { ...body };
  }

  /** A legacy completion's body, for a prompt the API did not forward as the client sent it. */
  #promptBody(request: CompletionRequest): Record<string, unknown> {
    const prompt = request.prompt!;
    const body: CompletionCreateParamsStreaming = { model: this.#model, prompt: prompt.text, stream: true, stream_options: { include_usage: true } };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
    if (request.seed !== undefined) body.seed = request.seed;
    if (prompt.stop) body.stop = prompt.stop;
    if (prompt.topP !== undefined) body.top_p = prompt.topP;
    if (prompt.suffix !== undefined) body.suffix = prompt.suffix;
    if (prompt.n !== undefined) body.n = prompt.n;
    if (prompt.logprobs !== undefined) body.logprobs = prompt.logprobs;
    return { ...body };
  }

  /**
   * Sends one request (a stream when the body says so), retrying only 429s: nothing has reached the caller
   * yet, so a retry cannot duplicate text. Null when cancelled.
   */
  async #create(operation: 'chat' | 'completion' | 'embeddings', body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<unknown> {
    const options = signal ? { signal } : {};
    for (let attempt = 0; ; attempt++) {
      try {
        // The body goes as the caller built it: the SDK sends unknown fields along unchanged. Embeddings go
        // by a plain POST: the SDK's embeddings.create adds encoding_format and decodes the answer.
        if (operation === 'embeddings') return await this.#client.post('/embeddings', { body, ...options });
        return operation === 'chat'
          ? await this.#client.chat.completions.create(body as unknown as ChatCompletionCreateParamsStreaming, options)
          : await this.#client.completions.create(body as unknown as CompletionCreateParamsStreaming, options);
      } catch (error) {
        if (signal?.aborted) return null;
        const mapped = this.#mapError(error);
        if (mapped.kind !== 'rate_limited' || attempt >= this.#maxRateLimitRetries) throw mapped;
        const waitMs = mapped.retryAfterMs ?? DEFAULT_RATE_LIMIT_BACKOFF_MS * 2 ** attempt;
        if (waitMs > this.#maxRetryAfterMs) throw mapped;
        if (!(await sleep(waitMs, signal))) return null;
      }
    }
  }

  #mapError(error: unknown): DriverError {
    return mapRemoteError(error, this.#errorContext);
  }
}

/** A response or chunk as the endpoint sent it: read defensively, passed on whole. */
type OpenAIObject = Record<string, unknown>;

/** The text of the first choice: a chat delta's or message's content, or a legacy completion's text. */
function firstChoiceText(operation: 'chat' | 'completion', object: OpenAIObject, field: 'delta' | 'message'): unknown {
  const choice = (object.choices as Array<Record<string, unknown>> | undefined)?.[0];
  if (!choice) return undefined;
  return operation === 'completion' ? choice.text : (choice[field] as { content?: unknown } | undefined)?.content;
}

function timeoutError(ctx: RemoteErrorContext): DriverError {
  return new DriverError('timeout', `The model server at ${ctx.host} went silent for ${ctx.timeoutMs} ms mid-answer.`);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A message in OpenAI's shape: text stays a string; parts become text and `image_url` parts. */
function toOpenAIMessage(message: ChatMessage): ChatCompletionMessageParam {
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId ?? '', content: messageText(message) };
  if (message.role === 'assistant' && message.toolCalls?.length) {
    const text = messageText(message);
    return {
      role: 'assistant',
      content: text === '' ? null : text,
      tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
    };
  }
  if (typeof message.content === 'string') return { role: message.role, content: message.content } as ChatCompletionMessageParam;
  const parts: ChatCompletionContentPart[] = message.content.map((part) =>
    part.type === 'text' ? { type: 'text', text: part.text } : { type: 'image_url', image_url: { url: part.url } },
  );
  if (message.role === 'user') return { role: 'user', content: parts };
  // System and assistant turns take text parts only.
  const text = parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n');
  return { role: message.role, content: text };
}

/**
 * What a model listing says about a model, where it says anything: OpenRouter's `architecture` and
 * `supported_parameters`, LM Studio's `type`, and a `capabilities` list (Ollama's words) all count.
 */
export function learnCapabilities(model: object): Partial<Record<Capability, boolean>> {
  const raw = model as {
    architecture?: { input_modalities?: unknown };
    supported_parameters?: unknown;
    type?: unknown;
    capabilities?: unknown;
  };
  const learned: Partial<Record<Capability, boolean>> = {};
  const modalities = raw.architecture?.input_modalities;
  if (Array.isArray(modalities)) learned.images = modalities.includes('image');
  const params = raw.supported_parameters;
  if (Array.isArray(params)) learned.tools = params.includes('tools');
  if (raw.type === 'vlm') learned.images = true;
  if (raw.type === 'llm') learned.images = false;
  if (raw.type === 'embeddings') learned.embeddings = true;
  const caps = raw.capabilities;
  if (Array.isArray(caps)) {
    learned.images = caps.includes('vision');
    learned.tools = caps.includes('tools');
    learned.embeddings = caps.includes('embedding') || caps.includes('embeddings');
  }
  return learned;
}
