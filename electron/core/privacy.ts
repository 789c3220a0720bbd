import { PRIVACY_TIERS, type PrivacyTier } from './types.js';

/** 0 for sovereign, 1 for private, 2 for standard: higher travels further. */
export function tierRank(tier: PrivacyTier): number {
  return PRIVACY_TIERS.indexOf(tier);
}

/** The most permissive of the given tiers (standard > private > sovereign); sovereign when none. */
export function mostPermissive(tiers: readonly PrivacyTier[]): PrivacyTier {
  return tiers.reduce<PrivacyTier>((acc, tier) => (tierRank(tier) > tierRank(acc) ? tier : acc), 'sovereign');
}

/** The more restrictive of two tiers. */
export function mostRestrictive(a: PrivacyTier, b: PrivacyTier): PrivacyTier {
  return tierRank(a) <= tierRank(b) ? a : b;
}

/** True when an entry of `tier` may be used under `ceiling` (null: no ceiling). */
export function tierAllowed(tier: PrivacyTier, ceiling: PrivacyTier | null): boolean {
  return ceiling === null || tierRank(tier) <= tierRank(ceiling);
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

/** The ceiling in plain words, for refusals. */
export function describeCeiling(ceiling: PrivacyTier): string {
  switch (ceiling) {
    case 'sovereign': return 'this computer only';
    case 'private': return 'up to the local network';
    case 'standard': return 'anywhere';
    default: return ceiling satisfies never;
  }
}
