/**
 * The route: an ordered list of entries (the local engine, then OpenAI-compatible endpoints), and which of
 * them a request may use under a strategy, a privacy ceiling and its needs.
 */
import { tierAllowed } from './privacy.js';
import type { Capability, EntryKind, LlmDriver, PrivacyTier, RoutingStrategy } from './types.js';

/** One entry of the route: a driver and what kind of place it runs. */
export interface RouteEntry {
  readonly driver: LlmDriver;
  readonly kind: EntryKind;
}

/** The first build's strategy names, still accepted: primary is the local engine, fallback the endpoints. */
export type SeedStrategy = 'primary-with-fallback' | 'primary-only' | 'fallback-only';

export type StrategyName = RoutingStrategy | SeedStrategy;

const SEED_STRATEGIES: Record<SeedStrategy, RoutingStrategy> = {
  'primary-with-fallback': 'local-first',
  'primary-only': 'local-only',
  'fallback-only': 'cloud-only',
};

export function canonicalStrategy(name: StrategyName): RoutingStrategy {
  return Object.hasOwn(SEED_STRATEGIES, name) ? SEED_STRATEGIES[name as SeedStrategy] : (name as RoutingStrategy);
}

/** The entries a strategy uses, in the order it tries them. */
export function strategyOrder(strategy: RoutingStrategy, entries: readonly RouteEntry[]): RouteEntry[] {
  const local = entries.filter((entry) => entry.kind === 'local');
  const remote = entries.filter((entry) => entry.kind === 'remote');
  switch (strategy) {
    case 'local-first': return [...local, ...remote];
    case 'local-only': return local;
    case 'cloud-only': return remote;
    case 'cloud-first': return [...remote, ...local];
    default: return strategy satisfies never;
  }
}

export function entryName(entry: RouteEntry): string {
  return entry.driver.displayName?.() ?? (entry.kind === 'local' ? 'The local model' : entry.driver.id);
}

export function entryCapabilities(entry: RouteEntry): readonly Capability[] {
  return entry.driver.capabilities?.() ?? [];
}

export interface PlanInput {
  strategy: RoutingStrategy;
  ceiling: PrivacyTier;
  needs: readonly Capability[];
  /** Only this entry may answer (a conversation's pin, or a model chosen by name). */
  entryId?: string;
}

export interface RoutePlan {
  /** The entries to try, in order. */
  candidates: RouteEntry[];
  /** Entries the strategy would use that the ceiling forbids, in strategy order. */
  aboveCeiling: RouteEntry[];
  /** Entries left out because they lack something the request needs. */
  lacking: Array<{ entry: RouteEntry; missing: Capability[] }>;
  /** The strategy's order before any filtering (empty: nothing of that kind is configured). */
  order: RouteEntry[];
}

/** Which entries a request may use: the strategy's order, under the ceiling, with what the request needs. */
export function planRoute(entries: readonly RouteEntry[], input: PlanInput): RoutePlan {
  const order = input.entryId === undefined ? strategyOrder(input.strategy, entries) : entries.filter((e) => e.driver.id === input.entryId);
  const plan: RoutePlan = { candidates: [], aboveCeiling: [], lacking: [], order };
  for (const entry of order) {
    if (!tierAllowed(entry.driver.privacyTier(), input.ceiling)) {
      plan.aboveCeiling.push(entry);
      continue;
    }
    const has = entryCapabilities(entry);
    const missing = input.needs.filter((need) => !has.includes(need));
    if (missing.length > 0) {
      plan.lacking.push({ entry, missing });
      continue;
    }
    plan.candidates.push(entry);
  }
  return plan;
}

/** What a capability lets an entry do, for messages ("cannot read images"). */
export function describeCapability(capability: Capability): string {
  switch (capability) {
    case 'images': return 'read images';
    case 'tools': return 'call tools';
    case 'embeddings': return 'make embeddings';
    default: return capability satisfies never;
  }
}
