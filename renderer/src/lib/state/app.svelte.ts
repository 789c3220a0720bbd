/** The renderer's state, composed once from one API connection. */
import type { SpillwayApi } from '../../../../electron/contract/index.js';
import { ArchiveState } from './archive.svelte.js';
import { ChatState } from './chat.svelte.js';
import { ComposerState } from './composer.svelte.js';
import { ConsentState } from './consent.svelte.js';
import { ConversationSettingsState } from './conversation-settings.svelte.js';
import { EgressState } from './egress.svelte.js';
import { EndpointsState } from './endpoints.svelte.js';
import { HighlightingState } from './highlighting.svelte.js';
import { MetricsState } from './metrics.svelte.js';
import { ModelPickerState } from './model-picker.svelte.js';
import { ModelsState } from './models.svelte.js';
import { PinState } from './pin.svelte.js';
import { RoutingState } from './routing.svelte.js';
import { SearchState } from './search.svelte.js';
import { SettingsState } from './settings.svelte.js';
import type { Scheduler } from './scheduler.js';
import { ThemeState } from './theme.svelte.js';

export type View = 'chat' | 'models' | 'metrics' | 'egress' | 'settings';
export type SettingsTab = 'endpoints' | 'routing' | 'local' | 'general';

export class AppState {
  readonly chat: ChatState;
  readonly routing: RoutingState;
  readonly pin: PinState;
  readonly consent: ConsentState;
  readonly metrics: MetricsState;
  readonly settings: SettingsState;
  readonly endpoints: EndpointsState;
  readonly egress: EgressState;
  readonly models: ModelsState;
  readonly picker: ModelPickerState;
  readonly composer = new ComposerState();
  readonly conversationSettings: ConversationSettingsState;
  readonly search: SearchState;
  readonly archive: ArchiveState;
  readonly highlighting = new HighlightingState();
  readonly theme = new ThemeState();
  view = $state<View>('chat');
  /** The keyboard shortcuts panel. */
  helpOpen = $state(false);
  settingsTab = $state<SettingsTab>('endpoints');
  ready = $state(false);

  constructor(api: SpillwayApi, schedule?: Scheduler) {
    this.chat = new ChatState(api, schedule);
    this.routing = new RoutingState(api);
    this.pin = new PinState(api, this.chat);
    this.consent = new ConsentState(api);
    this.metrics = new MetricsState(api);
    this.settings = new SettingsState(api);
    this.endpoints = new EndpointsState(api, this.settings, this.routing);
    this.egress = new EgressState(api, () => this.chat.activeId, (id) => this.endpointName(id));
    this.models = new ModelsState(api);
    this.picker = new ModelPickerState(this.pin, this.models);
    this.conversationSettings = new ConversationSettingsState(api, this.chat);
    this.search = new SearchState(api);
    this.archive = new ArchiveState(api, this.chat);
  }

  async load(): Promise<void> {
    await Promise.all([this.chat.load(), this.routing.load(), this.metrics.load(), this.settings.load(), this.models.load()]);
    this.ready = true;
  }

  /** Opens a view, or a tab of Settings. */
  open(view: View, tab?: SettingsTab): void {
    this.view = view;
    if (tab) this.settingsTab = tab;
  }

  /** An endpoint's name by id: as configured, else as the route knows it, else the id (a removed endpoint). */
  endpointName(id: string): string {
    return this.settings.settings?.endpoints.find((e) => e.id === id)?.name ?? this.routing.nameOf(id);
  }
}
