/**
 * The route as callers see it: privacy tiers, strategies, the entries that may answer, the router's state
 * and metrics, the egress ledger and the consent prompt. Plain types and constants only.
 */

/**
 * How far a request may travel: `sovereign` never leaves this machine, `private` may reach a server on
 * the local network, `standard` may reach the public internet.
 */
export type PrivacyTier = 'sovereign' | 'private' | 'standard';

/** Ordered from most restrictive to most permissive. */
export const PRIVACY_TIERS = ['sovereign', 'private', 'standard'] as const satisfies readonly PrivacyTier[];

/**
 * Which entries of the route a request may use, in which order. Local first: the local engine, then the
 * endpoints in order. Cloud first: the endpoints, then the local engine (the offline mode).
 */
export type RoutingStrategy = 'local-first' | 'local-only' | 'cloud-only' | 'cloud-first';

export const ROUTING_STRATEGIES = ['local-first', 'local-only', 'cloud-first', 'cloud-only'] as const satisfies readonly RoutingStrategy[];

/** What an entry of the route is: the local engine, or an OpenAI-compatible endpoint (LAN server or cloud). */
export type EntryKind = 'local' | 'remote';

/** What a request may need beyond text chat; the router sends it only to entries that have it. */
export type Capability = 'images' | 'tools' | 'embeddings';

export const CAPABILITIES = ['images', 'tools', 'embeddings'] as const satisfies readonly Capability[];

/**
 * Why generation ended. `error` marks an answer cut off by a failure after text had streamed; `switched`
 * one ended because the local model was switched (or reloaded) while it was being written.
 */
export type StopReason = 'stop' | 'length' | 'aborted' | 'error' | 'switched';

/** Token counts of one completion. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens served from the KV cache of an earlier turn, where the entry knows it. */
  cachedInputTokens?: number;
}

/** One entry of the route, as the strategy bar, the model picker and the settings show it. */
export interface RouteEntryInfo {
  /** Stable id: `local` for the local engine, the endpoint's id otherwise. Also X-Spillway-Endpoint. */
  id: string;
  kind: EntryKind;
  name: string;
  model: string;
  /** Host (and port) of an endpoint; null for the local engine. */
  host: string | null;
  tier: PrivacyTier;
  capabilities: Capability[];
  contextWindow: number;
  /** Set when the current strategy or ceiling keeps requests away from this entry. */
  excluded?: 'strategy' | 'ceiling';
}

/** The routing state the strategy and privacy controls show. */
export interface RouterState {
  strategy: RoutingStrategy;
  /** The most permissive tier any request may reach: this computer only, up to the local network, anywhere. */
  ceiling: PrivacyTier;
  /** Ask the person before anything leaves this computer. */
  askBeforeSending: boolean;
  /** The effective tier: the most permissive entry the strategy may use, capped by the ceiling. */
  privacyTier: PrivacyTier;
  /** Every configured entry in route order, the local engine first. */
  route: RouteEntryInfo[];
  /** The entry that answers the next plain chat request; null when none can. */
  next: string | null;
}

/** A conversation's own routing, overriding the app's: a ceiling may only be tightened, never loosened. */
export interface ConversationPin {
  strategy?: RoutingStrategy;
  ceiling?: PrivacyTier;
  /** Only this entry answers (still under the ceiling). */
  entryId?: string;
}

// --------------------------------------------------------------------------------------------- metrics

/** count, median and 95th percentile of recent samples. */
export interface Distribution {
  count: number;
  p50: number | null;
  p95: number | null;
}

export interface LatencyFigures {
  timeToFirstTokenMs: Distribution;
  totalMs: Distribution;
  tokensPerSecond: Distribution;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  threshold: number;
  cooldownMs: number;
  /** Epoch ms when an open circuit lets a probe through; null unless open. */
  retryAt: number | null;
  /** Requests that passed this entry by because its circuit was open. */
  skipped: number;
}

/** What happened at one entry for one request. */
export type RoutingOutcome = 'success' | 'failure' | 'spillover' | 'skipped' | 'blocked' | 'aborted' | 'incomplete' | 'switched';

/** One entry in the router's recent-events log. */
export interface RoutingEvent {
  /** Epoch milliseconds. */
  at: number;
  entryId: string;
  entryKind: EntryKind;
  outcome: RoutingOutcome;
  /** The failure's kind, for failures, spillovers, skips and blocks. */
  kind?: string;
  reason?: string;
  latencyMs?: number;
  /** For answers: output tokens per second after the first token. */
  tokensPerSecond?: number;
}

/** One entry's counters, breaker and latency. */
export interface EntryMetrics {
  id: string;
  kind: EntryKind;
  name: string;
  model: string;
  tier: PrivacyTier;
  attempts: number;
  successes: number;
  failures: number;
  /** Failures by kind (`timeout`, `network`, …). */
  failuresByKind: Record<string, number>;
  /** Requests this entry failed that went on to the next entry. */
  spilloversOut: number;
  cancelled: number;
  incomplete: number;
  circuit: CircuitSnapshot;
  latency: LatencyFigures;
}

/**
 * A JSON picture of the router. The aggregate counters keep the first build's names: `primary` is the local
 * engine, `fallback` any endpoint; a spillover is a move from one entry to the next.
 */
export interface RouterMetrics {
  strategy: RoutingStrategy;
  ceiling: PrivacyTier;
  privacyTier: PrivacyTier;
  primaryAttempts: number;
  primarySuccesses: number;
  primaryFailures: number;
  spillovers: number;
  fallbackSuccesses: number;
  fallbackFailures: number;
  /** fallbackSuccesses / (fallbackSuccesses + fallbackFailures); 0 when no endpoint was tried. */
  fallbackSuccessRate: number;
  privacyBlocks: number;
  incompleteAnswers: number;
  cancelled: number;
  queueLength: number;
  /** The local engine's breaker (the first build's single breaker). */
  circuitBreaker: CircuitSnapshot;
  /** Latency per entry id. */
  latency: Record<string, LatencyFigures>;
  /** Per entry, in route order. */
  entries: EntryMetrics[];
  events: RoutingEvent[];
}

// ---------------------------------------------------------------------------------------- egress ledger

/** Why a request went to an endpoint that is not on this machine. */
export type EgressWhy = 'spillover' | 'cloud-only' | 'cloud-first' | 'retry' | 'capability' | 'pinned' | 'circuit-open';

export type EgressOutcome = 'in-flight' | 'success' | 'failure' | 'aborted' | 'incomplete' | 'interrupted';

/** One request that left this computer, as recorded in `<data dir>/egress.jsonl`. Never any message text. */
export interface EgressEntry {
  id: string;
  /** Epoch ms when it was recorded, just before sending. */
  at: number;
  endedAt: number | null;
  /** The conversation, or `api` for the OpenAI-compatible API. */
  conversationId: string;
  endpointId: string;
  /** The endpoint's name when the request was sent (absent in records older than names). */
  endpointName?: string;
  host: string;
  model: string;
  tier: PrivacyTier;
  why: EgressWhy;
  /** For spillovers: the kind of failure of the entry before. */
  after?: string;
  /** Bytes of the request body sent. */
  bytesSent: number;
  /** Prompt tokens as the endpoint counted them (or as counted locally); null when unknown. */
  promptTokens: number | null;
  tokensReceived: number | null;
  outcome: EgressOutcome;
  /** For failures: the error's kind. */
  errorKind?: string;
}

export interface EgressQuery {
  endpointId?: string;
  conversationId?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
}

export interface EgressTotal {
  requests: number;
  bytesSent: number;
  promptTokens: number;
  tokensReceived: number;
}

export interface EgressReport {
  /** Newest first. */
  entries: EgressEntry[];
  byEndpoint: Array<EgressTotal & { endpointId: string; host: string }>;
  /** Per UTC day (`YYYY-MM-DD`), newest first. */
  byDay: Array<EgressTotal & { day: string }>;
  total: EgressTotal;
}

// --------------------------------------------------------------------------------------------- consent

/** The app asks before a conversation leaves this computer (when the person has asked to be asked). */
export interface ConsentRequest {
  consentId: string;
  requestId: string;
  conversationId: string;
  entry: { id: string; name: string; host: string; model: string; tier: PrivacyTier };
  why: EgressWhy;
  /** For spillovers: why the entry before could not answer. */
  after?: { kind: string; message: string };
}

/** Send this once; always send this conversation to this endpoint; or keep it on this computer. */
export type ConsentChoice = 'once' | 'always' | 'keep';
