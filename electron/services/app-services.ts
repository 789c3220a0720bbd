/**
 * The app's API, implemented once. Electron main's IPC adapter and the headless HTTP adapter both call
 * `call(channel, rawRequest)`; neither knows how anything is done.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppInfo, Channel, ChannelRequest, ChannelResponse, Notice, PublicSettings, Result, Settings, SettingsPatch } from '../contract/index.js';
import type { CompletionRequest, CompletionResponse } from '../core/types.js';
import type { HostLauncher } from '../drivers/host-process.js';
import { ChatService } from './chat-service.js';
import { ConversationStore } from './conversation-store.js';
import { fail, ok, ServiceError } from './errors.js';
import { loadCatalog } from './models/catalog-schema.js';
import { DownloadService } from './models/download-service.js';
import type { ModelDownloaderOptions } from './models/downloader.js';
import { ModelService } from './models/model-service.js';
import { MemorySecretStore } from './secret-store.js';
import { EventHub, type EventListener } from './event-hub.js';
import { RouterService } from './router-service.js';
import { defaultModelsDir } from './paths.js';
import { parseRequest } from './schemas.js';
import type { SecretStore } from './secret-store.js';
import { mergeSettings, SettingsStore } from './settings-store.js';

export interface AppServicesOptions {
  /** Where settings and conversations live. */
  dataDir: string;
  mode: AppInfo['mode'];
  version: string;
  secrets: SecretStore;
  /** The Hugging Face token for gated models, kept like the cloud key. */
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

const NO_TOKEN = new MemorySecretStore(null);

type Handlers = { [C in Channel]: (request: ChannelRequest<C>) => Promise<ChannelResponse<C>> | ChannelResponse<C> };

export class AppServices {
  private readonly notices: Notice[] = [];
  private overrides: SettingsPatch;
  private closed = false;

  private constructor(
    readonly events: EventHub,
    private readonly options: AppServicesOptions,
    private readonly settingsStore: SettingsStore,
    private readonly conversations: ConversationStore,
    readonly routing: RouterService,
    private readonly chat: ChatService,
    private readonly models: ModelService,
    private readonly downloads: DownloadService,
    private readonly modelsFolder: string,
    notices: Notice[],
  ) {
    this.overrides = options.overrides ?? {};
    this.notices.push(...notices);
  }

  static async create(options: AppServicesOptions): Promise<AppServices> {
    await mkdir(options.dataDir, { recursive: true });
    const notices: Notice[] = [];
    const warn = (message: string): void => {
      notices.push({ id: randomUUID(), level: 'warning', message, at: Date.now() });
    };
    const settingsStore = await SettingsStore.open(join(options.dataDir, 'settings.json'), warn);
    const conversations = await ConversationStore.open(join(options.dataDir, 'conversations'), warn);
    const events = new EventHub();
    const effective = mergeSettings(settingsStore.get(), options.overrides ?? {});
    const routing = new RouterService({
      settings: effective,
      apiKey: options.secrets.get(),
      events,
      ...(options.launcher ? { launcher: options.launcher } : {}),
    });
    let services: AppServices | null = null;
    const chat = new ChatService(conversations, routing, events, () => services!.settings());
    const models = new ModelService({
      routing,
      events,
      settings: () => services!.settings(),
      updateSettings: (patch) => services!.updateSettings(patch),
      modelsDir: () => services!.modelsDir(),
    });
    const modelsDir = mergeSettings(settingsStore.get(), options.overrides ?? {}).models.dir ?? defaultModelsDir(options.dataDir);
    await mkdir(modelsDir, { recursive: true });
    const downloads = new DownloadService({
      events,
      dir: modelsDir,
      hfToken: () => options.hfToken?.get() ?? null,
      onFinished: () => models.changed(),
      catalog: () => loadCatalog(options.catalogPath),
      ...(options.downloader ? { downloader: options.downloader } : {}),
    });
    await downloads.restore();
    services = new AppServices(events, options, settingsStore, conversations, routing, chat, models, downloads, modelsDir, notices);
    if (options.warmUp) routing.warmUp();
    return services;
  }

  /** Validates and dispatches one call; every failure comes back as contract error data. */
  async call<C extends Channel>(channel: C, raw: unknown): Promise<Result<ChannelResponse<C>>> {
    try {
      if (this.closed) return fail(new Error('Spillway is shutting down.'));
      const handler = this.handlers[channel] as (request: ChannelRequest<C>) => Promise<ChannelResponse<C>> | ChannelResponse<C>;
      if (!handler) return { ok: false, error: { code: 'NOT_FOUND', message: `Unknown channel ${String(channel)}.`, retryable: false } };
      return ok(await handler(parseRequest(channel, raw)));
    } catch (error) {
      return fail(error);
    }
  }

  subscribe(listener: EventListener): () => void {
    return this.events.subscribe(listener);
  }

  /** A routed completion outside any conversation: the OpenAI-compatible API uses it. */
  complete(request: CompletionRequest): Promise<CompletionResponse> {
    return this.routing.complete(request);
  }

  /** Settings as the app runs with them: stored ones, with this run's command-line flags on top. */
  settings(): Settings {
    return mergeSettings(this.settingsStore.get(), this.overrides);
  }

  /** Adds a notice for the user and pushes it to open windows. */
  notify(level: Notice['level'], message: string): void {
    const notice: Notice = { id: randomUUID(), level, message, at: Date.now() };
    this.notices.push(notice);
    this.events.emit('notice', notice);
  }

  /** Clean stop: answers are cancelled and their partial text saved, the host stopped, files flushed. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chat.stopAll();
    await Promise.all([this.routing.dispose(), this.downloads.close()]);
    await Promise.all([this.settingsStore.flush(), this.conversations.flush()]);
  }

  /** The folder downloaded models go to: chosen at start, so scans and downloads always agree. */
  modelsDir(): string {
    return this.modelsFolder;
  }

  private publicSettings(): PublicSettings {
    return {
      ...this.settings(),
      cloudApiKeySet: this.options.secrets.get() !== null,
      huggingFaceTokenSet: (this.hfToken.get() ?? null) !== null,
      modelsDir: this.modelsDir(),
    };
  }

  private get hfToken(): SecretStore {
    return this.options.hfToken ?? NO_TOKEN;
  }

  private async updateSettings(patch: SettingsPatch): Promise<PublicSettings> {
    await this.settingsStore.update(patch);
    // A field the user sets now is no longer held by a flag.
    for (const [section, values] of Object.entries(patch)) {
      const held = (this.overrides as Record<string, Record<string, unknown> | undefined>)[section];
      if (held && values) for (const key of Object.keys(values)) delete held[key];
    }
    this.routing.apply(this.settings(), this.options.secrets.get());
    const result = this.publicSettings();
    this.events.emit('settings:update', result);
    return result;
  }

  private readonly handlers: Handlers = {
    'app:info': () => ({ version: this.options.version, mode: this.options.mode, notices: [...this.notices] }),
    'chat:send': (r) => this.chat.send(r),
    'chat:retry': (r) => this.chat.retry(r),
    'chat:cancel': (r) => this.chat.cancel(r.requestId),
    'conversations:list': () => this.conversations.list(),
    'conversations:get': (r) => this.conversations.get(r.id),
    'conversations:create': (r) => this.conversations.create(r.title),
    'conversations:rename': (r) => this.conversations.rename(r.id, r.title),
    'conversations:delete': async (r) => {
      await this.conversations.delete(r.id);
      return { deleted: true as const };
    },
    'router:get': () => this.routing.state(),
    'router:setStrategy': async (r) => {
      await this.updateSettings({ routing: { strategy: r.strategy } });
      return this.routing.state();
    },
    'router:setPrivacyLock': async (r) => {
      await this.updateSettings({ routing: { privacyLock: r.lock } });
      return this.routing.state();
    },
    'metrics:get': () => this.routing.router.metrics(),
    'settings:get': () => this.publicSettings(),
    'settings:set': (r) => this.updateSettings(r.patch),
    'settings:setApiKey': async (r) => {
      await this.options.secrets.set(r.apiKey);
      this.routing.apply(this.settings(), this.options.secrets.get());
      const result = this.publicSettings();
      this.events.emit('settings:update', result);
      return result;
    },
    'cloud:test': (r) => this.routing.testConnection(r),
    'engine:status': () => this.routing.engineStatus(),
    'settings:setHfToken': async (r) => {
      if (!this.options.hfToken) throw new ServiceError('UNAVAILABLE', 'This mode keeps no Hugging Face token; set HF_TOKEN in the environment instead.');
      await this.options.hfToken.set(r.token);
      const result = this.publicSettings();
      this.events.emit('settings:update', result);
      return result;
    },
    'models:list': () => this.models.list(),
    'models:catalog': async () => (await loadCatalog(this.options.catalogPath)).models,
    'models:add': (r) => this.models.add(r.path),
    'models:pick': async () => {
      if (!this.options.pickModelFile) throw new ServiceError('UNAVAILABLE', 'There is no file picker in headless mode; enter the path of the GGUF file instead.');
      const path = await this.options.pickModelFile();
      return path === null ? null : this.models.add(path);
    },
    'models:setActive': (r) => this.models.setActive(r.path),
    'models:delete': async (r) => {
      await this.models.delete(r.path);
      return { deleted: true as const };
    },
    'models:download': (r) => this.downloads.start(r.source, r.quantization),
    'models:downloads': () => this.downloads.list(),
    'models:pauseDownload': (r) => this.downloads.pause(r.id),
    'models:resumeDownload': (r) => this.downloads.resume(r.id),
    'models:cancelDownload': (r) => this.downloads.cancel(r.id),
  };
}
