/**
 * The one contract between the app's services and every caller: Electron main's IPC adapter, the preload
 * bridge, the headless HTTP adapter and the renderer. Types and constants only, and a leaf: it imports
 * nothing outside this folder, and the layers below conform to it.
 */
import type {
  Attachment,
  Conversation,
  ConversationSearchHit,
  ConversationSettings,
  ConversationSummary,
  ChatMessageRecord,
  ExportFile,
  ExportFormat,
  GenerationOptions,
} from './conversations.js';
import type { Result } from './errors.js';
import type { CatalogEntry, DownloadInfo, EngineStatus, LocalModel } from './models.js';
import type {
  Capability,
  ConsentChoice,
  ConsentRequest,
  ConversationPin,
  EgressEntry,
  EgressQuery,
  EgressReport,
  PrivacyTier,
  RouterMetrics,
  RouterState,
  RoutingStrategy,
} from './routing.js';
import type { EndpointInput, PublicSettings, SettingsPatch } from './settings.js';

export * from './conversations.js';
export * from './errors.js';
export * from './models.js';
export * from './routing.js';
export * from './settings.js';

// ----------------------------------------------------------------------------------------- domain types

export interface ConnectionTest {
  latencyMs: number;
  models: string[];
  /** What the endpoint said about the chosen model's capabilities, where it says anything. */
  learned: Partial<Record<Capability, boolean>>;
}

/** Something the user should be told once, e.g. a corrupt settings file that was set aside. */
export interface Notice {
  id: string;
  level: 'info' | 'warning' | 'error';
  message: string;
  at: number;
}

export interface AppInfo {
  version: string;
  mode: 'desktop' | 'headless';
  notices: Notice[];
}

// --------------------------------------------------------------------------------------------- channels

type Empty = Record<string, never>;

/** Every request a caller can make: request type and response type per channel (`domain:verb`). */
export interface Channels {
  /** Version, mode and pending notices. */
  'app:info': { request: Empty; response: AppInfo };
  /** Starts an answer; returns at once, text arrives as `chat:delta` events and one `chat:done`. */
  'chat:send': {
    request: { conversationId?: string; content: string; attachments?: Attachment[]; options?: GenerationOptions };
    response: { requestId: string; conversationId: string; userMessageId: string };
  };
  /**
   * Answers a turn again as a new branch beside the earlier answer, which stays reachable: the turn of the
   * answer `messageId`, else the last user message. `cloud` asks the endpoints only ("Retry on cloud").
   */
  'chat:retry': {
    request: { conversationId: string; messageId?: string; target?: 'same' | 'cloud' };
    response: { requestId: string; conversationId: string };
  };
  /** Sends an edited copy of a user message (its attachments kept) as a new branch beside it, and answers it. */
  'chat:edit': {
    request: { conversationId: string; messageId: string; content: string };
    response: { requestId: string; conversationId: string; userMessageId: string };
  };
  /** Stops a running answer; the partial text is kept. */
  'chat:cancel': { request: { requestId: string }; response: { cancelled: boolean } };
  /** Answers a `consent:request`: send once, always for this conversation, or keep it on this computer. */
  'chat:consent': { request: { consentId: string; choice: ConsentChoice }; response: { settled: boolean } };
  'conversations:list': { request: Empty; response: ConversationSummary[] };
  'conversations:get': { request: { id: string }; response: Conversation };
  'conversations:create': { request: { title?: string }; response: Conversation };
  'conversations:rename': { request: { id: string; title: string }; response: ConversationSummary };
  'conversations:delete': { request: { id: string }; response: { deleted: true } };
  /** Pins a conversation to a strategy, a ceiling or one entry (null follows the app's again). */
  'conversations:setPin': { request: { id: string; pin: ConversationPin | null }; response: ConversationSummary };
  /** Sets a conversation's own system prompt, temperature and max tokens; one left out follows the app's. */
  'conversations:setSettings': { request: { id: string; settings: ConversationSettings }; response: ConversationSummary };
  /** Shows the branch through a message (its newest continuation); the conversation continues from there. */
  'conversations:selectBranch': { request: { id: string; messageId: string }; response: Conversation };
  /** Conversations whose title or any message (in any branch) contains the query; title matches first. */
  'conversations:search': { request: { query: string }; response: ConversationSearchHit[] };
  /** One conversation, some or all (no ids) as Markdown (the branches shown) or JSON (every branch, who answered). */
  'conversations:export': { request: { ids?: string[]; format: ExportFormat }; response: ExportFile };
  /** Imports a JSON export: all of it, or on any fault nothing, with the reason. */
  'conversations:import': { request: { content: string }; response: { imported: ConversationSummary[] } };
  /** The route under the app's strategy and ceiling, or under a conversation's pin. */
  'router:get': { request: { conversationId?: string }; response: RouterState };
  'router:setStrategy': { request: { strategy: RoutingStrategy }; response: RouterState };
  /** Sets how far any request may travel: sovereign (this computer), private (the local network), standard (anywhere). */
  'router:setCeiling': { request: { ceiling: PrivacyTier }; response: RouterState };
  'metrics:get': { request: Empty; response: RouterMetrics };
  /** What left this computer: the egress ledger, filtered, with totals per endpoint and per day. */
  'egress:list': { request: EgressQuery; response: EgressReport };
  'settings:get': { request: Empty; response: PublicSettings };
  /** Applies a partial update atomically: all of it or, on any invalid field, none of it. */
  'settings:set': { request: { patch: SettingsPatch }; response: PublicSettings };
  /** Adds an endpoint (no id) or replaces the one with that id. */
  'endpoints:save': { request: { endpoint: EndpointInput }; response: PublicSettings };
  /** Removes an endpoint and its stored key. */
  'endpoints:remove': { request: { id: string }; response: PublicSettings };
  /** Moves an endpoint to a position in the route (0 is tried first among endpoints). */
  'endpoints:move': { request: { id: string; index: number }; response: PublicSettings };
  /** Stores an endpoint's API key encrypted (null removes it); the response only says which keys are set. */
  'endpoints:setKey': { request: { id: string; apiKey: string | null }; response: PublicSettings };
  /** Tries an endpoint (a saved one by id, or a draft) and reports latency, its models and what it says it can do. */
  'endpoints:test': {
    request: { id?: string; baseURL?: string; model?: string; apiKey?: string };
    response: ConnectionTest;
  };
  'engine:status': { request: Empty; response: EngineStatus };
  /** Stores the Hugging Face token for gated models, encrypted like the endpoint keys (null removes it). */
  'settings:setHfToken': { request: { token: string | null }; response: PublicSettings };
  /** The models folder scanned plus added files, each with its fit estimate. */
  'models:list': { request: Empty; response: LocalModel[] };
  /** The curated catalog of recommended models. */
  'models:catalog': { request: Empty; response: CatalogEntry[] };
  /** Adds an existing GGUF file from anywhere on disk. */
  'models:add': { request: { path: string }; response: LocalModel };
  /** Desktop only: the system file picker for a GGUF file, then adds it; null when the user cancels. */
  'models:pick': { request: Empty; response: LocalModel | null };
  /** Makes a model the local engine's; it loads without restarting the app. */
  'models:setActive': { request: { path: string }; response: EngineStatus };
  /** Deletes a downloaded model's file, or forgets an added one (its file is left alone). */
  'models:delete': { request: { path: string }; response: { deleted: true } };
  /** Starts a download: a catalog id (with a quantization), `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>.gguf` or an https URL. */
  'models:download': { request: { source: string; quantization?: string }; response: DownloadInfo };
  'models:downloads': { request: Empty; response: DownloadInfo[] };
  'models:pauseDownload': { request: { id: string }; response: DownloadInfo };
  'models:resumeDownload': { request: { id: string }; response: DownloadInfo };
  /** Stops a download and removes everything it wrote. */
  'models:cancelDownload': { request: { id: string }; response: DownloadInfo };
}

export type Channel = keyof Channels;
export type ChannelRequest<C extends Channel> = Channels[C]['request'];
export type ChannelResponse<C extends Channel> = Channels[C]['response'];

/** Every channel name, for the preload and the adapters to enumerate (a test pins it to `Channels`). */
export const CHANNELS = [
  'app:info',
  'chat:send',
  'chat:retry',
  'chat:edit',
  'chat:cancel',
  'chat:consent',
  'conversations:list',
  'conversations:get',
  'conversations:create',
  'conversations:rename',
  'conversations:delete',
  'conversations:setPin',
  'conversations:setSettings',
  'conversations:selectBranch',
  'conversations:search',
  'conversations:export',
  'conversations:import',
  'router:get',
  'router:setStrategy',
  'router:setCeiling',
  'metrics:get',
  'egress:list',
  'settings:get',
  'settings:set',
  'endpoints:save',
  'endpoints:remove',
  'endpoints:move',
  'endpoints:setKey',
  'endpoints:test',
  'engine:status',
  'settings:setHfToken',
  'models:list',
  'models:catalog',
  'models:add',
  'models:pick',
  'models:setActive',
  'models:delete',
  'models:download',
  'models:downloads',
  'models:pauseDownload',
  'models:resumeDownload',
  'models:cancelDownload',
] as const satisfies readonly Channel[];

// Compile-time check that CHANNELS lists every channel exactly.
type MissingChannels = Exclude<Channel, (typeof CHANNELS)[number]>;
const allChannelsListed: MissingChannels extends never ? true : MissingChannels = true;
void allChannelsListed;

// ----------------------------------------------------------------------------------------------- events

/** Events the services push to callers. */
export interface Events {
  /** Batched streamed text of one answer. */
  'chat:delta': { requestId: string; conversationId: string; text: string };
  /** The end of one answer: the stored message, or the error. */
  'chat:done': { requestId: string; conversationId: string; result: Result<ChatMessageRecord> };
  /** A route wants to send a conversation off this computer and the person asked to be asked first. */
  'consent:request': ConsentRequest;
  /** A consent question was answered or withdrawn (the request was cancelled): every window closes it. */
  'consent:settled': { consentId: string; choice: ConsentChoice | 'withdrawn' };
  'metrics:update': RouterMetrics;
  'router:update': RouterState;
  'engine:update': EngineStatus;
  'settings:update': PublicSettings;
  /** A request was recorded in, or completed in, the egress ledger. */
  'egress:update': EgressEntry;
  /** A conversation changed (its title, pin, settings, messages) or, with summary null, was deleted: every window updates its list. */
  'conversations:changed': { id: string; summary: ConversationSummary | null };
  'notice': Notice;
  'models:update': LocalModel[];
  'download:progress': DownloadInfo;
}

export type EventName = keyof Events;

export const EVENTS = [
  'chat:delta',
  'chat:done',
  'consent:request',
  'consent:settled',
  'metrics:update',
  'router:update',
  'engine:update',
  'settings:update',
  'egress:update',
  'conversations:changed',
  'notice',
  'models:update',
  'download:progress',
] as const satisfies readonly EventName[];

type MissingEvents = Exclude<EventName, (typeof EVENTS)[number]>;
const allEventsListed: MissingEvents extends never ? true : MissingEvents = true;
void allEventsListed;

/** A listener for one named event: its payload is typed by the name. */
export type EventListener<E extends EventName> = (payload: Events[E]) => void;

/** The API a renderer sees: one function per channel, one subscription per event. */
export type SpillwayApi = {
  [C in Channel as ApiName<C>]: (request: ChannelRequest<C>) => Promise<Result<ChannelResponse<C>>>;
} & {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void;
};

/** `conversations:list` → `conversationsList`. */
export type ApiName<C extends string> = C extends `${infer D}:${infer V}` ? `${D}${Capitalize<V>}` : never;

export function apiName<C extends Channel>(channel: C): ApiName<C> {
  const [domain, verb] = channel.split(':') as [string, string];
  return `${domain}${verb.charAt(0).toUpperCase()}${verb.slice(1)}` as ApiName<C>;
}

/** The app's API as services implement it for the adapters: the contract's calls and its typed events. */
export interface AppApi {
  /** Validates and answers one call; every failure comes back as contract error data. */
  call<C extends Channel>(channel: C, request: unknown): Promise<Result<ChannelResponse<C>>>;
  /** Subscribes to one event. */
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void;
  /** Subscribes to every event (the IPC and SSE adapters forward them all). */
  onAny(listener: <E extends EventName>(event: E, payload: Events[E]) => void): () => void;
}

export type { EgressEntry };
