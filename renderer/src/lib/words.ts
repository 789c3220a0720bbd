/**
 * The routing vocabulary in the words people read: strategies, ceilings, tiers, why a request left this
 * computer and how it ended. One place, so the header, the dialogs, the settings and the ledger agree.
 */
import type { EgressOutcome, EgressWhy, PrivacyTier, RouteEntryInfo, RoutingStrategy } from '../../../electron/contract/index.js';

export const STRATEGY_LABELS: Record<RoutingStrategy, string> = {
  'local-first': 'Local first',
  'local-only': 'Local only',
  'cloud-first': 'Cloud first',
  'cloud-only': 'Cloud only',
};

/** The ceiling as the header's select offers it. */
export const CEILING_LABELS: Record<PrivacyTier, string> = {
  sovereign: 'This computer only',
  private: 'Up to local network',
  standard: 'Anywhere',
};

/** Where an entry of a tier runs. */
export const TIER_WORDS: Record<PrivacyTier, string> = {
  sovereign: 'on this computer',
  private: 'on your local network',
  standard: 'on the internet',
};

/** The effective tier in plain words, naming the host of the most permissive entry that may be used. */
export function describeTier(tier: PrivacyTier, host: string | null): string {
  switch (tier) {
    case 'sovereign': return 'Nothing leaves this computer';
    case 'private': return `May reach ${host ?? 'a server'} on your network`;
    case 'standard': return `May be sent to ${host ?? 'a cloud provider'}`;
    default: return tier satisfies never;
  }
}

/** The host (or hosts) of the usable entries at `tier`: "api.openai.com", "a.example +1", or null. */
export function hostsAt(route: readonly RouteEntryInfo[], tier: PrivacyTier): string | null {
  const hosts = [...new Set(route.filter((e) => e.excluded === undefined && e.tier === tier && e.host).map((e) => e.host!))];
  if (hosts.length === 0) return null;
  return hosts.length === 1 ? hosts[0]! : `${hosts[0]} +${hosts.length - 1}`;
}

/** Why a request went to an endpoint, for the consent dialog and the ledger. */
export function describeWhy(why: EgressWhy, after?: string): string {
  switch (why) {
    case 'spillover': return after ? `the entry before it failed (${after})` : 'the entry before it could not answer';
    case 'cloud-only': return 'Cloud only is selected';
    case 'cloud-first': return 'Cloud first is selected';
    case 'retry': return 'you asked to retry on the cloud';
    case 'capability': return 'the entries before it cannot do what this request needs';
    case 'pinned': return 'this conversation is pinned to it';
    case 'circuit-open': return 'the entry before it is failing and is being skipped for a while';
    default: return why satisfies never;
  }
}

/** Short form of `describeWhy` for table cells and exports. */
export const WHY_LABELS: Record<EgressWhy, string> = {
  spillover: 'Spillover',
  'cloud-only': 'Cloud only',
  'cloud-first': 'Cloud first',
  retry: 'Retry',
  capability: 'Capability',
  pinned: 'Pinned',
  'circuit-open': 'Circuit open',
};

export const OUTCOME_LABELS: Record<EgressOutcome, string> = {
  'in-flight': 'Sending…',
  success: 'Answered',
  failure: 'Failed',
  aborted: 'Stopped',
  incomplete: 'Cut off',
  interrupted: 'Interrupted',
};
