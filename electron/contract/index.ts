/**
 * The one contract between the app's services and every caller: Electron main's IPC adapter, the preload
 * bridge, the headless HTTP adapter and the renderer. Types and constants only, so every side can import it.
 */
import type { RouterMetrics } from '../core/router.js';
import type { DriverErrorKind, PrivacyTier, RoutingStrategy, StopReason, Usage } from '../core/types.js';
import type { EngineInfo, ModelInspection } from '../inference/protocol.js';
import type { CatalogEntry } from '../services/models/catalog-schema.js';

export type { RouterMetrics, PrivacyTier, RoutingStrategy, ModelInspection, CatalogEntry };

// ---------------------------------------------------------------------------------------------- errors

/** Error codes the renderer branches on (never on message text). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'BUSY'
  | 'UNAVAILABLE'
  | 'FORBIDDEN'
  | 'INTERNAL'
  // Driver failures, one per DriverError kind.
  | 'INFERENCE_FAILED'
  | 'MODEL_NOT_FOUND'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'CONTEXT_OVERFLOW'
  | 'RATE_LIMITED'
  | 'AUTH'
  | 'INVALID_REQUEST'
  | 'ABORTED'
  | 'NO_FALLBACK'
  | 'PRIVACY_BLOCKED'
  | 'CIRCUIT_OPEN';

/** Maps a driver failure kind to its contract code. */
export function codeForKind(kind: DriverErrorKind): ErrorCode {
  return kind.toUpperCase() as Uppercase<DriverErrorKind>;
}

/** An error as plain data: class prototypes do not survive the context bridge or JSON. */
export interface AppError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** For INVALID_ARGUMENT: the offending field's path, e.g. `patch.cloud.baseURL`. */
  field?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: AppError };

// ----------------------------------------------------------------------------------------- domain types

/** Sampling options a chat message may carry. */
export interface GenerationOptions {
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

/** How an assistant message came to be: shown as the badge under it. */
export interface AnswerMeta {
  driverId: string;
  /** 'local' or 'cloud', from the role the driver played. */
  source: 'local' | 'cloud';
  model: string;
  stopReason: StopReason;
  usage: Usage;
  timeToFirstTokenMs: number | null;
  totalMs: number;
  tokensPerSecond: number | null;
  routeReason?: string;
  /** Set when the router spilled over: why the local model could not answer. */
  spilledAfter?: { code: ErrorCode; message: string };
  /** Set when the answer was cut off mid-stream. */
  incomplete?: { code: ErrorCode; message: string };
}

export interface ChatMessageRecord {
  id: string;
  role: 'system' | 'user' | 'assistant';
  content: string;
  /** Epoch milliseconds. */
  createdAt: number;
  meta?: AnswerMeta;
}

export interface ConversationSummary {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messageCount: number;
}

export interface Conversation extends ConversationSummary {
  messages: ChatMessageRecord[];
}

/** The routing state the strategy and privacy controls show. */
export interface RouterState {
  strategy: RoutingStrategy;
  privacyLock: PrivacyTier | null;
  /** The effective tier: the most permissive driver the strategy may use, capped by the lock. */
  privacyTier: PrivacyTier;
  /** Host of the cloud endpoint, for "May be sent to <host>"; null when none is configured. */
  cloudHost: string | null;
  hasLocalModel: boolean;
  hasCloud: boolean;
}

/** no-model: none configured; not-loaded: configured, loads on first use; error: the last load failed. */
export type EngineState = 'no-model' | 'not-loaded' | 'loading' | 'ready' | 'error';

/** The local engine as the settings page and status bar show it. */
export interface EngineStatus {
  state: EngineState;
  modelPath: string | null;
  info: EngineInfo | null;
  error: AppError | null;
  queueLength: number;
  crashes: number;
}

export type CloudPreset = 'openai' | 'openrouter' | 'groq' | 'together' | 'ollama' | 'lmstudio' | 'custom';

/** Base URLs the cloud presets fill in. */
export const CLOUD_PRESETS: Record<Exclude<CloudPreset, 'custom'>, string> = {
  openai: 'https://api.openai.com/v1',
  openrouter: 'https://openrouter.ai/api/v1',
  groq: 'https://api.groq.com/openai/v1',
  together: 'https://api.together.xyz/v1',
  ollama: 'http://127.0.0.1:11434/v1',
  lmstudio: 'http://127.0.0.1:1234/v1',
};

/** Everything the user can configure. The API key is not here: it lives in the OS keychain. */
export interface Settings {
  routing: {
    strategy: RoutingStrategy;
    privacyLock: PrivacyTier | null;
    firstTokenTimeoutMs: number;
    idleTimeoutMs: number;
    circuitThreshold: number;
    circuitCooldownMs: number;
  };
  local: {
    modelPath: string | null;
    /** null: the default the app measured for this machine. */
    threads: number | null;
    gpuLayers: number | 'auto';
    /** null: the model's trained context, capped to keep memory reasonable. */
    contextSize: number | null;
  };
  cloud: {
    preset: CloudPreset;
    baseURL: string | null;
    model: string;
    contextWindow: number;
    /** null: derived from the base URL. */
    privacyTier: PrivacyTier | null;
  };
  generation: {
    systemPrompt: string;
    temperature: number;
    maxTokens: number | null;
  };
  server: {
    /** The OpenAI-compatible server on 127.0.0.1, off by default. */
    enabled: boolean;
    port: number;
  };
  models: {
    /** Where downloaded models go; null: `models` in the user data directory. */
    dir: string | null;
    /** GGUF files added from elsewhere on disk. */
    extraPaths: string[];
  };
}

/** A deep partial of Settings, for updates. */
export type SettingsPatch = { [K in keyof Settings]?: Partial<Settings[K]> };

/** Settings as callers see them: plus whether keys are stored, never the keys. */
export interface PublicSettings extends Settings {
  cloudApiKeySet: boolean;
  huggingFaceTokenSet: boolean;
  /** The models folder actually in use (the default when `models.dir` is null). */
  modelsDir: string;
}

/** A GGUF file the model manager knows: in the models folder or added from elsewhere. */
export interface LocalModel {
  path: string;
  fileName: string;
  sizeBytes: number;
  source: 'models-folder' | 'added';
  /** The model the local engine uses. */
  active: boolean;
  /** What the file is and whether it fits; null when it could not be read (see error). */
  inspection: ModelInspection | null;
  error: AppError | null;
}

export type DownloadState = 'queued' | 'downloading' | 'paused' | 'verifying' | 'done' | 'failed' | 'cancelled';

/** One model download as the model manager shows it. */
export interface DownloadInfo {
  id: string;
  /** What was asked for: a catalog id, `hf:…` or a URL. */
  source: string;
  label: string;
  state: DownloadState;
  bytesDone: number;
  totalBytes: number | null;
  percent: number | null;
  bytesPerSecond: number;
  etaSeconds: number | null;
  error: AppError | null;
  /** Where the finished model is. */
  modelPath: string | null;
}

export interface ConnectionTest {
  latencyMs: number;
  models: string[];
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

/** Every request a caller can make: request type and response type per channel (`domain:verb`). */
export interface Channels {
  /** Version, mode and pending notices. */
  'app:info': { request: Record<string, never>; response: AppInfo };
  /** Starts an answer; returns at once, text arrives as `chat:delta` events and one `chat:done`. */
  'chat:send': {
    request: { conversationId?: string; content: string; options?: GenerationOptions };
    response: { requestId: string; conversationId: string; userMessageId: string };
  };
  /** Answers the conversation's last user message again, optionally forcing the cloud ("Retry on cloud"). */
  'chat:retry': {
    request: { conversationId: string; target?: 'same' | 'cloud' };
    response: { requestId: string; conversationId: string };
  };
  /** Stops a running answer; the partial text is kept. */
  'chat:cancel': { request: { requestId: string }; response: { cancelled: boolean } };
  'conversations:list': { request: Record<string, never>; response: ConversationSummary[] };
  'conversations:get': { request: { id: string }; response: Conversation };
  'conversations:create': { request: { title?: string }; response: Conversation };
  'conversations:rename': { request: { id: string; title: string }; response: ConversationSummary };
  'conversations:delete': { request: { id: string }; response: { deleted: true } };
  'router:get': { request: Record<string, never>; response: RouterState };
  'router:setStrategy': { request: { strategy: RoutingStrategy }; response: RouterState };
  'router:setPrivacyLock': { request: { lock: PrivacyTier | null }; response: RouterState };
  'metrics:get': { request: Record<string, never>; response: RouterMetrics };
  'settings:get': { request: Record<string, never>; response: PublicSettings };
  /** Applies a partial update atomically: all of it or, on any invalid field, none of it. */
  'settings:set': { request: { patch: SettingsPatch }; response: PublicSettings };
  /** Stores the cloud API key encrypted (null removes it); the response only says whether one is set. */
  'settings:setApiKey': { request: { apiKey: string | null }; response: PublicSettings };
  /** Tries the cloud endpoint (the saved one, or the one given) and reports latency or the mapped error. */
  'cloud:test': {
    request: { baseURL?: string; model?: string; apiKey?: string };
    response: ConnectionTest;
  };
  'engine:status': { request: Record<string, never>; response: EngineStatus };
  /** Stores the Hugging Face token for gated models, encrypted like the cloud key (null removes it). */
  'settings:setHfToken': { request: { token: string | null }; response: PublicSettings };
  /** The models folder scanned plus added files, each with its fit estimate. */
  'models:list': { request: Record<string, never>; response: LocalModel[] };
  /** The curated catalog of recommended models. */
  'models:catalog': { request: Record<string, never>; response: CatalogEntry[] };
  /** Adds an existing GGUF file from anywhere on disk. */
  'models:add': { request: { path: string }; response: LocalModel };
  /** Desktop only: the system file picker for a GGUF file, then adds it; null when the user cancels. */
  'models:pick': { request: Record<string, never>; response: LocalModel | null };
  /** Makes a model the local engine's; it loads without restarting the app. */
  'models:setActive': { request: { path: string }; response: EngineStatus };
  /** Deletes a downloaded model's file, or forgets an added one (its file is left alone). */
  'models:delete': { request: { path: string }; response: { deleted: true } };
  /** Starts a download: a catalog id (with a quantization), `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>.gguf` or an https URL. */
  'models:download': { request: { source: string; quantization?: string }; response: DownloadInfo };
  'models:downloads': { request: Record<string, never>; response: DownloadInfo[] };
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
  'chat:cancel',
  'conversations:list',
  'conversations:get',
  'conversations:create',
  'conversations:rename',
  'conversations:delete',
  'router:get',
  'router:setStrategy',
  'router:setPrivacyLock',
  'metrics:get',
  'settings:get',
  'settings:set',
  'settings:setApiKey',
  'cloud:test',
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
  'metrics:update': RouterMetrics;
  'router:update': RouterState;
  'engine:update': EngineStatus;
  'settings:update': PublicSettings;
  'notice': Notice;
  'models:update': LocalModel[];
  'download:progress': DownloadInfo;
}

export type EventName = keyof Events;

export const EVENTS = [
  'chat:delta',
  'chat:done',
  'metrics:update',
  'router:update',
  'engine:update',
  'settings:update',
  'notice',
  'models:update',
  'download:progress',
] as const satisfies readonly EventName[];

type MissingEvents = Exclude<EventName, (typeof EVENTS)[number]>;
const allEventsListed: MissingEvents extends never ? true : MissingEvents = true;
void allEventsListed;

/** The API a renderer sees: one function per channel, one subscription per event. */
export type SpillwayApi = {
  [C in Channel as ApiName<C>]: (request: ChannelRequest<C>) => Promise<Result<ChannelResponse<C>>>;
} & {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
};

/** `conversations:list` → `conversationsList`. */
export type ApiName<C extends string> = C extends `${infer D}:${infer V}` ? `${D}${Capitalize<V>}` : never;

export function apiName<C extends Channel>(channel: C): ApiName<C> {
  const [domain, verb] = channel.split(':') as [string, string];
  return `${domain}${verb.charAt(0).toUpperCase()}${verb.slice(1)}` as ApiName<C>;
}

