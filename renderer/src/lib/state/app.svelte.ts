/** The renderer's state, composed once from one API connection. */
import type { SpillwayApi } from '../../../../electron/contract/index.js';
import { ChatState } from './chat.svelte.js';
import { MetricsState } from './metrics.svelte.js';
import { ModelsState } from './models.svelte.js';
import { RoutingState } from './routing.svelte.js';
import { SettingsState } from './settings.svelte.js';
import type { Scheduler } from './scheduler.js';

export type View = 'chat' | 'models' | 'metrics' | 'settings';

export class AppState {
  readonly chat: ChatState;
  readonly routing: RoutingState;
  readonly metrics: MetricsState;
  readonly settings: SettingsState;
  readonly models: ModelsState;
  view = $state<View>('chat');
  ready = $state(false);

  constructor(api: SpillwayApi, schedule?: Scheduler) {
    this.chat = new ChatState(api, schedule);
    this.routing = new RoutingState(api);
    this.metrics = new MetricsState(api);
    this.settings = new SettingsState(api);
    this.models = new ModelsState(api);
  }

  async load(): Promise<void> {
    await Promise.all([this.chat.load(), this.routing.load(), this.metrics.load(), this.settings.load(), this.models.load()]);
    this.ready = true;
  }
}
