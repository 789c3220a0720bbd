/** The types every driver and the router share. The plain data types come from the contract. */
import type {
  Capability,
  DriverErrorKind,
  EntryKind,
  PrivacyTier,
  RoutingStrategy,
  StopReason,
  Usage,
} from '../contract/index.js';

export type { Capability, DriverErrorKind, EntryKind, PrivacyTier, RoutingStrategy, StopReason, Usage };
export { CAPABILITIES, PRIVACY_TIERS, ROUTING_STRATEGIES } from '../contract/index.js';

/** Chat roles understood by every driver; `tool` carries a tool's result back to the model. */
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A piece of a multi-part message: text, or an image as a `data:` or `https:` URL. */
export type MessagePart = { type: 'text'; text: string } | { type: 'image'; url: string };

/** One chat message. */
export interface ChatMessage {
  role: ChatRole;
  content: string | MessagePart[];
  /** On an assistant message: the tools it called (its content is the text before the calls). */
  toolCalls?: ToolCall[];
  /** On a tool message: the call whose result it is. */
  toolCallId?: string;
}

/** A function the model may call, as OpenAI's `tools` declare it. */
export interface ToolSpec {
  name: string;
  description?: string;
  /** A JSON schema of the arguments object; absent: the function takes none. */
  parameters?: Record<string, unknown>;
}

/** A call the model made: an id for the tool's answer to refer to, the function and its arguments as JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A piece of a call as it streams: the first piece of a call has its id and name, later ones more arguments. */
export interface ToolCallDelta {
  /** Which call of the answer, from 0. */
  index: number;
  id?: string;
  name?: string;
  arguments: string;
}

/** `auto`: the model decides; `none`: it must not call; `required`: it must call one; or it must call the one named. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** Sampling options shared by all drivers. */
export interface SamplingOptions {
  /** Upper bound on generated tokens; drivers pick a sensible default when absent. */
  maxTokens?: number;
  /** 0 means greedy decoding. */
  temperature?: number;
  /** Seed for reproducible sampling where the driver supports it. */
  seed?: number;
  /** Up to 4 stop texts: generation ends before the first one, which is left out of the text. */
  stop?: string[];
  /** Nucleus sampling: only the most likely tokens whose probabilities add up to this. */
  topP?: number;
  /** Only the k most likely tokens (an extension to OpenAI's fields). */
  topK?: number;
  /** Only tokens at least this fraction as likely as the most likely one (an extension). */
  minP?: number;
  /** Lowers the logit of each token already generated, once (OpenAI's -2 to 2). */
  presencePenalty?: number;
  /** Lowers the logit of each token already generated, by how often it was (OpenAI's -2 to 2). */
  frequencyPenalty?: number;
  /** Token id (as a string) → bias added to its logit, -100 to 100; -100 bans the token. */
  logitBias?: Record<string, number>;
  /** Constrains the output to JSON, or to JSON matching a schema. */
  responseFormat?: ResponseFormat;
  /** Report each token's log probability with this many alternatives (0–20); absent: none. */
  logprobs?: number;
}

/** Structured output: any JSON object, or JSON that matches a JSON schema. */
export type ResponseFormat = { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> };

/** A token with its log probability, as OpenAI reports it. */
export interface TokenLogprobEntry {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes. */
  bytes: number[];
}

/** One generated token's log probability and the most likely alternatives at its place, most likely first. */
export interface TokenLogprob extends TokenLogprobEntry {
  topLogprobs: TokenLogprobEntry[];
}

/** Which entry the router hands a request to, told before that entry streams. */
export interface RouteAnnouncement {
  entryId: string;
  entryKind: EntryKind;
  model: string;
  tier: PrivacyTier;
}

/**
 * A request of the OpenAI-compatible API, forwarded to an endpoint exactly as the client sent it: only
 * `model` becomes the endpoint's own, and everything the endpoint answers reaches the client.
 */
export interface ForwardedRequest {
  /** Which OpenAI operation. */
  operation: 'chat' | 'completion';
  /** The client's JSON body, unknown fields included. */
  body: Record<string, unknown>;
  /** Each chunk of a streamed answer exactly as the endpoint sent it; called before the chunk's text reaches onText. */
  onChunk?: (chunk: Record<string, unknown>) => void;
}

/**
 * A legacy text completion (`/v1/completions`): the prompt is continued as it is, with no chat template.
 * A driver that cannot honour one of these fields refuses the request naming it.
 */
export interface TextPrompt {
  text: string;
  /** Texts that end the answer; none of them is part of it. */
  stop?: string[];
  topP?: number;
  /** Text after the insertion point (fill in the middle). */
  suffix?: string;
  /** Choices to generate. */
  n?: number;
  /** Log probabilities of this many likeliest tokens per position. */
  logprobs?: number;
}

/** A chat completion request as drivers receive it. */
export interface CompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  /** Cancels the request; a driver resolves with the partial text and stop reason `aborted`. */
  signal?: AbortSignal;
  /** Called with each piece of streamed text, in order. */
  onText?: (delta: string) => void;
  /** With `logprobs`: called with the log probabilities of the tokens behind the next piece of text, just before onText. */
  onLogprobs?: (tokens: TokenLogprob[]) => void;
  /** Called by the router each time it hands the request to an entry, before that entry streams. */
  onRoute?: (route: RouteAnnouncement) => void;
  /** Capabilities the request needs beyond what its messages show (images are seen in the messages). */
  needs?: Capability[];
  /** Set by the OpenAI-compatible API: an endpoint gets this body as it is, instead of the fields above. */
  forward?: ForwardedRequest;
  /**
   * Requests with the same key continue one conversation (the chat service passes its id): the local
   * engine answers them on the sequence that holds that conversation's prompt, or restores it from disk.
   * Without a key it looks for the sequence sharing the longest prefix (a common system prompt).
   */
  affinityKey?: string;
  /** Functions the model may call (needs the `tools` capability unless toolChoice is `none`). */
  tools?: ToolSpec[];
  /** Whether and which tool the model must call; `auto` when absent. */
  toolChoice?: ToolChoice;
  /** False: at most one call per answer; otherwise as many as the model's chat template allows. */
  parallelToolCalls?: boolean;
  /** Called with each piece of a tool call as it is generated, in order with the text. */
  onToolCall?: (delta: ToolCallDelta) => void;
  /** Set for a legacy text completion: drivers continue this prompt instead of answering `messages`. */
  prompt?: TextPrompt;
}

/** Wall-clock timings of one completion, in milliseconds. */
export interface Timings {
  /** From the call to the first streamed text; null when no text was produced. */
  timeToFirstTokenMs: number | null;
  totalMs: number;
}

/** Plain-data form of a DriverError, safe to serialise across processes. */
export interface DriverErrorData {
  kind: DriverErrorKind;
  message: string;
  /** Trying again may help. */
  retryable: boolean;
  retryAfterMs?: number;
}

/** The result of a completion. */
export interface CompletionResponse {
  text: string;
  /** The entry that produced the text (its driver's id). */
  entryId: string;
  /** The model that actually answered. */
  model: string;
  usage: Usage;
  timings: Timings;
  stopReason: StopReason;
  /** Set by the router: what kind of entry answered. */
  entryKind?: EntryKind;
  /** Set by the router: how far the request travelled to the entry that answered. */
  tier?: PrivacyTier;
  /** Set by the router: why this entry answered (e.g. `spilled over after inference_failed: …`). */
  routeReason?: string;
  /** Set by the router when it spilled over: the failure of the entry before. */
  spilledAfter?: DriverErrorData & { entryId: string };
  /** Set when the answer was cut short by a failure after text had streamed. */
  incomplete?: DriverErrorData;
  /** For a forwarded request that did not stream: the endpoint's whole answer, as it sent it. */
  raw?: Record<string, unknown>;
  /** The tools the model called; the answer stops at the calls, which the client runs. */
  toolCalls?: ToolCall[];
  /** With `logprobs`, on the local model: each generated token's log probability. */
  logprobs?: TokenLogprob[];
}

/** Vectors for a batch of inputs. */
export interface EmbeddingResponse {
  entryId: string;
  model: string;
  vectors: number[][];
  usage: { inputTokens: number };
  /** Set by the router: what kind of entry answered. */
  entryKind?: EntryKind;
  /** Set by the router: how far the request travelled to the entry that answered. */
  tier?: PrivacyTier;
  /** For a forwarded request: the endpoint's whole answer, as it sent it. */
  raw?: Record<string, unknown>;
}

/** How an embeddings request reaches a driver. */
export interface EmbedOptions {
  /**
   * Set by the OpenAI-compatible API: an endpoint gets the client's JSON body as it is (only `model`
   * becomes its own: `dimensions`, `encoding_format` and unknown fields included), and its answer comes back whole as `raw`.
   */
  forward?: Record<string, unknown>;
}

/** What every model backend implements. */
export interface LlmDriver {
  /** Stable identifier: the entry's id in the route, e.g. `local` or an endpoint's id. */
  readonly id: string;
  /** A name for people, e.g. `OpenAI`; the id when absent. */
  displayName?(): string;
  /** The model this driver currently serves. */
  modelName(): string;
  /** Runs one chat completion, streaming text through `request.onText`; rejects with a DriverError. */
  complete(request: CompletionRequest): Promise<CompletionResponse>;
  /** The usable context window in tokens (0: unknown). */
  contextWindow(): number;
  /** How far requests sent to this driver may travel. */
  privacyTier(): PrivacyTier;
  /** What it can serve beyond text chat; none when absent. */
  capabilities?(): readonly Capability[];
  /** Host (and port) requests go to; absent for the local engine. */
  endpointHost?(): string | null;
  /** Gets ready to answer (loads the model); the router runs it under the load deadline. */
  prepare?(signal: AbortSignal): Promise<void>;
  /** Counts the prompt's tokens with the model's own tokenizer and chat template, when the driver can. */
  countTokens?(messages: ChatMessage[], signal?: AbortSignal): Promise<number>;
  /** Embeds each input, when the driver has the `embeddings` capability. */
  embed?(input: string[], signal?: AbortSignal, options?: EmbedOptions): Promise<EmbeddingResponse>;
  /** Bytes of the request body it would send for `request`, for the egress record. */
  requestBytes?(request: CompletionRequest): number;
  /** Requests waiting behind the ones in progress, when the driver queues. */
  queueLength?(): number;
}

/** The text of a message, its parts' text joined by newlines (images dropped). */
export function messageText(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  return message.content
    .filter((part): part is Extract<MessagePart, { type: 'text' }> => part.type === 'text')
    .map((part) => part.text)
    .join('\n');
}

/** Capabilities a request needs: images when any message has an image part, plus what it declares. */
export function requestNeeds(request: Pick<CompletionRequest, 'messages' | 'needs'>): Capability[] {
  const needs = new Set<Capability>(request.needs ?? []);
  if (request.messages.some((m) => typeof m.content !== 'string' && m.content.some((part) => part.type === 'image'))) needs.add('images');
  return [...needs];
}
