/** The app's strategy, ceiling and effective tier, as the always-visible header controls show them. */
import type { AppError, PrivacyTier, RouterState, RoutingStrategy, SpillwayApi } from '../../../../electron/contract/index.js';
import { describeTier, hostsAt } from '../words.js';

export class RoutingState {
  state = $state<RouterState | null>(null);
  error = $state<AppError | null>(null);
  readonly tierText = $derived(this.state ? describeTier(this.state.privacyTier, hostsAt(this.state.route, this.state.privacyTier)) : '');

  constructor(private readonly api: SpillwayApi) {
    api.on('router:update', (state) => {
      this.state = state;
    });
  }

  async load(): Promise<void> {
    this.settle(await this.api.routerGet({}));
  }

  async setStrategy(strategy: RoutingStrategy): Promise<void> {
    this.settle(await this.api.routerSetStrategy({ strategy }));
  }

  /** How far any request may travel: this computer only, up to the local network, or anywhere. */
  async setCeiling(ceiling: PrivacyTier): Promise<void> {
    this.settle(await this.api.routerSetCeiling({ ceiling }));
  }

  /** An entry's name by id (a spillover names the entry before by id only). */
  nameOf(entryId: string): string {
    return this.state?.route.find((e) => e.id === entryId)?.name ?? (entryId === 'local' ? 'Local model' : entryId);
  }

  private settle(result: Awaited<ReturnType<SpillwayApi['routerGet']>>): void {
    if (result.ok) {
      this.state = result.value;
      this.error = null;
    } else this.error = result.error;
  }
}
