/** Chat roles understood by every driver. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One chat message. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/**
 * How far a request may travel: `sovereign` never leaves this machine, `private` may reach a server on
 * the local network, `standard` may reach the public internet.
 */
export type PrivacyTier = 'sovereign' | 'private' | 'standard';

/** Ordered from most restrictive to most permissive. */
export const PRIVACY_TIERS: readonly PrivacyTier[] = ['sovereign', 'private', 'standard'];

/** Routing strategies; the UI calls them Local first, Local only and Cloud only. */
export type RoutingStrategy = 'primary-with-fallback' | 'primary-only' | 'fallback-only';

export const ROUTING_STRATEGIES: readonly RoutingStrategy[] = ['primary-with-fallback', 'primary-only', 'fallback-only'];

/** Why generation ended. `error` marks an answer cut off by a failure after text had streamed. */
export type StopReason = 'stop' | 'length' | 'aborted' | 'error';

/** Sampling options shared by all drivers. */
export interface SamplingOptions {
  /** Upper bound on generated tokens; drivers pick a sensible default when absent. */
  maxTokens?: number;
  /** 0 means greedy decoding. */
  temperature?: number;
  /** Seed for reproducible sampling where the driver supports it. */
  seed?: number;
}

/** A chat completion request as drivers receive it. */
export interface CompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  /** Cancels the request; a driver resolves with the partial text and stop reason `aborted`. */
  signal?: AbortSignal;
  /** Called with each piece of streamed text, in order. */
  onText?: (delta: string) => void;
  /** Called by the router each time it hands the request to a driver, before that driver streams. */
  onRoute?: (route: { role: DriverRole; driverId: string; model: string }) => void;
}

/** Token counts of one completion. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens served from the KV cache of an earlier turn, where the driver knows it. */
  cachedInputTokens?: number;
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
  retryable: boolean;
  retryAfterMs?: number;
}

/** Which role a driver played in answering a routed request. */
export type DriverRole = 'primary' | 'fallback';

/** The result of a completion. */
export interface CompletionResponse {
  text: string;
  /** Stable id of the driver that produced the text. */
  driverId: string;
  /** The model that actually answered. */
  model: string;
  usage: Usage;
  timings: Timings;
  stopReason: StopReason;
  /** Set by the router: which role answered. */
  role?: DriverRole;
  /** Set by the router: why this driver answered (e.g. `spilled over after inference_failed: …`). */
  routeReason?: string;
  /** Set by the router when it spilled over: the primary's failure. */
  spilledAfter?: DriverErrorData;
  /** Set when the answer was cut short by a failure after text had streamed. */
  incomplete?: DriverErrorData;
}

/** Every way a driver can fail. */
export type DriverErrorKind =
  | 'inference_failed'
  | 'model_not_found'
  | 'network'
  | 'timeout'
  | 'context_overflow'
  | 'rate_limited'
  | 'auth'
  | 'invalid_request'
  | 'aborted'
  | 'no_fallback'
  | 'privacy_blocked'
  | 'circuit_open';

/** What every model backend implements. */
export interface LlmDriver {
  /** Stable identifier, e.g. `local` or `remote`. */
  readonly id: string;
  /** The model this driver currently serves. */
  modelName(): string;
  /** Runs one chat completion, streaming text through `request.onText`; rejects with a DriverError. */
  complete(request: CompletionRequest): Promise<CompletionResponse>;
  /** The usable context window in tokens. */
  contextWindow(): number;
  /** How far requests sent to this driver may travel. */
  privacyTier(): PrivacyTier;
  /** Counts the prompt's tokens with the model's own tokenizer and chat template, when the driver can. */
  countTokens?(messages: ChatMessage[]): Promise<number>;
  /** Requests waiting behind the one in progress, when the driver queues. */
  queueLength?(): number;
}
