/** Strategy, privacy lock and the effective privacy tier, as the always-visible controls show them. */
import type { AppError, PrivacyTier, RouterState, RoutingStrategy, SpillwayApi } from '../../../../electron/contract/index.js';

export const STRATEGY_LABELS: Record<RoutingStrategy, string> = {
  'primary-with-fallback': 'Local first',
  'primary-only': 'Local only',
  'fallback-only': 'Cloud only',
};

/** The tier in plain words, naming the cloud host when text may go there. */
export function describeTier(tier: PrivacyTier, cloudHost: string | null): string {
  switch (tier) {
    case 'sovereign': return 'Nothing leaves this computer';
    case 'private': return `May reach a server on your network${cloudHost ? ` (${cloudHost})` : ''}`;
    case 'standard': return `May be sent to ${cloudHost ?? 'a cloud provider'}`;
    default: return tier satisfies never;
  }
}

export class RoutingState {
  state = $state<RouterState | null>(null);
  error = $state<AppError | null>(null);
  readonly tierText = $derived(this.state ? describeTier(this.state.privacyTier, this.state.cloudHost) : '');
  readonly locked = $derived(this.state?.privacyLock === 'sovereign');

  constructor(private readonly api: SpillwayApi) {
    api.on('router:update', (state) => {
      this.state = state;
    });
  }

  async load(): Promise<void> {
    const result = await this.api.routerGet({});
    if (result.ok) this.state = result.value;
    else this.error = result.error;
  }

  async setStrategy(strategy: RoutingStrategy): Promise<void> {
    const result = await this.api.routerSetStrategy({ strategy });
    if (result.ok) this.state = result.value;
    else this.error = result.error;
  }

  /** "Never send anything off this computer": the lock at sovereign, or no lock. */
  async setLocked(locked: boolean): Promise<void> {
    const result = await this.api.routerSetPrivacyLock({ lock: locked ? 'sovereign' : null });
    if (result.ok) this.state = result.value;
    else this.error = result.error;
  }
}
