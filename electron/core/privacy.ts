import { PRIVACY_TIERS, type PrivacyTier } from './types.js';

function rank(tier: PrivacyTier): number {
  return PRIVACY_TIERS.indexOf(tier);
}

/** The most permissive of the given tiers (standard > private > sovereign); sovereign when none. */
export function mostPermissive(tiers: PrivacyTier[]): PrivacyTier {
  return tiers.reduce<PrivacyTier>((acc, tier) => (rank(tier) > rank(acc) ? tier : acc), 'sovereign');
}

/** The more restrictive of two tiers. */
export function mostRestrictive(a: PrivacyTier, b: PrivacyTier): PrivacyTier {
  return rank(a) <= rank(b) ? a : b;
}

/** True when a driver of `tier` may be used under `lock` (null: no lock). */
export function tierAllowed(tier: PrivacyTier, lock: PrivacyTier | null): boolean {
  return lock === null || rank(tier) <= rank(lock);
}

/** Plain-words description of a tier, for messages. */
export function describeTier(tier: PrivacyTier): string {
  switch (tier) {
    case 'sovereign': return 'nothing leaves this computer';
    case 'private': return 'may reach a server on your network';
    case 'standard': return 'may be sent to a server on the internet';
    default: return tier satisfies never;
  }
}
