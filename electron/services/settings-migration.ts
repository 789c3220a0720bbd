/**
 * Settings files of the first build (one `cloud` endpoint, a privacy lock, the primary/fallback strategy
 * names) become today's shape on first start: the endpoint becomes the first entry of `endpoints` with the
 * id `cloud` (its stored key keeps that name), the lock becomes the ceiling. Nothing the person set is lost;
 * a declared tier the new rule refuses (less permissive than the URL shows) is dropped with a notice.
 */
import { ENDPOINT_PRESETS, type EndpointPreset, type EndpointSettings, type PrivacyTier, type RoutingStrategy } from '../contract/index.js';
import { canonicalStrategy, type StrategyName } from '../core/route.js';
import { resolveTier } from '../drivers/privacy.js';

/** The id the first build's single endpoint takes, and the name its stored key is read under. */
export const MIGRATED_ENDPOINT_ID = 'cloud';

/** The current settings file version. */
export const SETTINGS_VERSION = 2;

interface V1Cloud {
  preset?: string;
  baseURL?: string | null;
  model?: string;
  contextWindow?: number;
  privacyTier?: PrivacyTier | null;
}

export interface Migration {
  /** The file's content in today's shape (still to be validated). */
  value: Record<string, unknown>;
  /** What the person should be told. */
  notes: string[];
}

/** True for a file written before endpoints existed. */
export function isV1(raw: Record<string, unknown>): boolean {
  return raw.version === undefined && ('cloud' in raw || (typeof raw.routing === 'object' && raw.routing !== null && 'privacyLock' in raw.routing));
}

export function migrateV1(raw: Record<string, unknown>): Migration {
  const notes: string[] = [];
  const { cloud, routing, ...rest } = raw as { cloud?: V1Cloud; routing?: Record<string, unknown> } & Record<string, unknown>;
  const value: Record<string, unknown> = { ...rest, version: SETTINGS_VERSION };

  if (routing) {
    const { privacyLock, strategy, ...keep } = routing as { privacyLock?: PrivacyTier | null; strategy?: StrategyName };
    value.routing = {
      ...keep,
      ...(strategy === undefined ? {} : { strategy: canonicalStrategy(strategy) satisfies RoutingStrategy }),
      ceiling: privacyLock ?? 'standard',
    };
  }

  const endpoints: EndpointSettings[] = [];
  if (cloud?.baseURL) {
    const preset = (cloud.preset && (cloud.preset in ENDPOINT_PRESETS || cloud.preset === 'custom') ? cloud.preset : 'custom') as EndpointPreset;
    let tier = cloud.privacyTier ?? null;
    try {
      resolveTier(cloud.baseURL, tier);
    } catch (error) {
      notes.push(`${error instanceof Error ? error.message : String(error)} The endpoint now uses the tier its address shows.`);
      tier = null;
    }
    endpoints.push({
      id: MIGRATED_ENDPOINT_ID,
      name: preset === 'custom' ? hostOf(cloud.baseURL) : ENDPOINT_PRESETS[preset].name,
      preset,
      baseURL: cloud.baseURL,
      model: cloud.model ?? '',
      contextWindow: cloud.contextWindow ?? 128_000,
      tier,
      capabilities: { images: null, tools: null, embeddings: null },
      learned: {},
      enabled: true,
    });
  }
  value.endpoints = endpoints;
  return { value, notes };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
