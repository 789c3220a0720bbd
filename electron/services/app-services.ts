/**
 * The app's services, composed once by a plain function. The adapters get exactly what they need: IPC
 * and /api the contract's calls and events (`call`, `on`, `onAny`), /v1 the `openai` service, the desktop
 * shell and the CLI `notify` and `shutdown`. None of them reaches into a service.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppApi, AppInfo, Channel, ChannelRequest, ChannelResponse, Notice, Result, SettingsPatch } from '../contract/index.js';
import type { HostLauncher } from '../drivers/host-process.js';
import { ChatService } from './chat-service.js';
import { ConversationArchive } from './conversation-archive.js';
import { ConversationStore } from './conversation-store.js';
import { EgressLedger } from './egress-ledger.js';
import { fail, ok, ServiceError } from './errors.js';
import { EventHub } from './event-hub.js';
import { loadCatalog } from './models/catalog-schema.js';
import { DownloadService } from './models/download-service.js';
import type { ModelDownloaderOptions } from './models/downloader.js';
import { ModelService } from './models/model-service.js';
import { NoticeBoard } from './notices.js';
import { OpenAIService } from './openai-service.js';
import { RouterService } from './router-service.js';
import { defaultModelsDir } from './paths.js';
import { parseRequest } from './schemas.js';
import type { SecretStore } from './secret-store.js';
import { SettingsService } from './settings-service.js';
import { mergeSettings, SettingsStore } from './settings-store.js';

export interface ServicesOptions {
  /** Where settings, conversations and the egress ledger live. */
  dataDir: string;
  mode: AppInfo['mode'];
  version: string;
  /** Endpoint API keys, by endpoint id. */
  secrets: SecretStore;
  /** The Hugging Face token for gated models, kept like the keys. */
  hfToken?: SecretStore;
  /** How to start the inference host (utilityProcess in the desktop app). */
  launcher?: HostLauncher;
  /** Command-line flags: they win over stored settings for this run and are not saved. */
  overrides?: SettingsPatch;
  /** Load the local model right away (the desktop app and `serve` do; tests may not). */
  warmUp?: boolean;
  /** The desktop's file picker for a GGUF file (null when cancelled); headless mode has none. */
  pickModelFile?: () => Promise<string | null>;
  /** The model catalog (default: models/catalog.json); tests point it at their own. */
  catalogPath?: string;
  /** Downloader settings (tests point it at a local server and shorten retries). */
  downloader?: Partial<ModelDownloaderOptions>;
}

/** The composed app. */
export interface Services extends AppApi {
  /** What the OpenAI-compatible API may do. */
  readonly openai: OpenAIService;
  /** Tells the person something once (pushed as `notice`). */
  notify(level: Notice['level'], message: string): void;
  /** Clean stop: answers are cancelled and their partial text saved, the host stopped, files flushed. */
  shutdown(): Promise<void>;
}

type Handlers = { [C in Channel]: (request: ChannelRequest<C>) => Promise<ChannelResponse<C>> | ChannelResponse<C> };

export async function createServices(options: ServicesOptions): Promise<Services> {
  await mkdir(options.dataDir, { recursive: true });
  const events = new EventHub();
  const notices = new NoticeBoard(events);
  const warn = (message: string): void => notices.notify('warning', message);
  const store = await SettingsStore.open(join(options.dataDir, 'settings.json'), warn);
  const conversations = await ConversationStore.open(join(options.dataDir, 'conversations'), warn, (change) => events.emit('conversations:changed', change));
  const overrides = options.overrides ?? {};
  const modelsDir = mergeSettings(store.get(), overrides).models.dir ?? defaultModelsDir(options.dataDir);
  await mkdir(modelsDir, { recursive: true });
  const settings = new SettingsService({ store, overrides, keys: options.secrets, hfToken: options.hfToken ?? null, modelsDir, events });
  const egress = new EgressLedger(join(options.dataDir, 'egress.jsonl'), events);
  const routing = new RouterService({
    settings,
    events,
    egress,
    stateCacheDir: join(options.dataDir, 'prompt-cache'),
    ...(options.launcher ? { launcher: options.launcher } : {}),
  });
  const chat = new ChatService(conversations, routing, settings, events);
  const archive = new ConversationArchive(conversations);
  const models = new ModelService({ routing, events, settings, modelsDir });
  const downloads = new DownloadService({
    events,
    dir: modelsDir,
    hfToken: () => settings.hfToken(),
    onFinished: () => models.changed(),
    catalog: () => loadCatalog(options.catalogPath),
    ...(options.downloader ? { downloader: options.downloader } : {}),
  });
  await downloads.restore();
  const openai = new OpenAIService(routing, settings);
  if (options.warmUp) routing.warmUp();

  // Each channel names the one method that answers it.
  const handlers: Handlers = {
    'app:info': () => ({ version: options.version, mode: options.mode, notices: notices.list() }),
    'chat:send': (r) => chat.send(r),
    'chat:retry': (r) => chat.retry(r),
    'chat:edit': (r) => chat.edit(r),
    'chat:cancel': (r) => chat.cancel(r.requestId),
    'chat:consent': (r) => chat.consent(r.consentId, r.choice),
    'conversations:list': () => conversations.list(),
    'conversations:get': (r) => conversations.get(r.id),
    'conversations:create': (r) => conversations.create(r.title),
    'conversations:rename': (r) => conversations.rename(r.id, r.title),
    'conversations:delete': (r) => chat.deleteConversation(r.id).then(() => ({ deleted: true as const })),
    'conversations:setPin': (r) => chat.setPin(r.id, r.pin),
    'conversations:setSettings': (r) => conversations.setSettings(r.id, r.settings),
    'conversations:selectBranch': (r) => chat.selectBranch(r.id, r.messageId),
    'conversations:search': (r) => conversations.search(r.query),
    'conversations:export': (r) => archive.export(r.ids, r.format),
    'conversations:import': (r) => archive.import(r.content),
    'router:get': (r) => routing.state(r.conversationId === undefined ? null : conversations.get(r.conversationId).pin),
    'router:setStrategy': (r) => settings.update({ routing: { strategy: r.strategy } }).then(() => routing.state()),
    'router:setCeiling': (r) => settings.update({ routing: { ceiling: r.ceiling } }).then(() => routing.state()),
    'metrics:get': () => routing.metrics(),
    'egress:list': (r) => egress.list(r),
    'settings:get': () => settings.publicView(),
    'settings:set': (r) => settings.update(r.patch),
    'endpoints:save': (r) => settings.saveEndpoint(r.endpoint),
    'endpoints:remove': (r) => settings.removeEndpoint(r.id),
    'endpoints:move': (r) => settings.moveEndpoint(r.id, r.index),
    'endpoints:setKey': (r) => settings.setEndpointKey(r.id, r.apiKey),
    'endpoints:test': (r) => routing.testEndpoint(r),
    'engine:status': () => routing.engineStatus(),
    'settings:setHfToken': (r) => settings.setHfToken(r.token),
    'models:list': () => models.list(),
    'models:catalog': async () => (await loadCatalog(options.catalogPath)).models,
    'models:add': (r) => models.add(r.path),
    'models:pick': async () => {
      if (!options.pickModelFile) throw new ServiceError('UNAVAILABLE', 'There is no file picker in headless mode; enter the path of the GGUF file instead.');
      const path = await options.pickModelFile();
      return path === null ? null : models.add(path);
    },
    'models:setActive': (r) => models.setActive(r.path),
    'models:delete': (r) => models.delete(r.path).then(() => ({ deleted: true as const })),
    'models:download': (r) => downloads.start(r.source, r.quantization),
    'models:downloads': () => downloads.list(),
    'models:pauseDownload': (r) => downloads.pause(r.id),
    'models:resumeDownload': (r) => downloads.resume(r.id),
    'models:cancelDownload': (r) => downloads.cancel(r.id),
  };

  let closed = false;
  return {
    async call<C extends Channel>(channel: C, raw: unknown): Promise<Result<ChannelResponse<C>>> {
      try {
        if (closed) return fail(new ServiceError('UNAVAILABLE', 'Spillway is shutting down.'));
        if (!Object.hasOwn(handlers, channel)) return fail(new ServiceError('NOT_FOUND', `Unknown channel ${String(channel)}.`));
        const handler = handlers[channel] as (request: ChannelRequest<C>) => Promise<ChannelResponse<C>> | ChannelResponse<C>;
        return ok(await handler(parseRequest(channel, raw)));
      } catch (error) {
        return fail(error);
      }
    },
    on: (event, listener) => events.on(event, listener),
    onAny: (listener) => events.onAny(listener),
    openai,
    notify: (level, message) => notices.notify(level, message),
    async shutdown(): Promise<void> {
      if (closed) return;
      closed = true;
      await chat.stopAll();
      await Promise.all([routing.dispose(), downloads.close()]);
      await Promise.all([settings.flush(), conversations.flush(), egress.close()]);
    },
  };
}
