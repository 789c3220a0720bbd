/** Command-line flags of `npm run serve`: parsed strictly, each bad value refused with one clear message. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_PARALLEL, PRIVACY_TIERS, ROUTING_STRATEGIES, type EndpointSettings, type PrivacyTier, type RoutingStrategy, type SettingsPatch } from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import { resolveTier } from '../drivers/privacy.js';
import { defaultDataDir } from '../services/paths.js';
import { isLoopbackHost } from './security.js';

export const DEFAULT_PORT = 8765;
export const DEFAULT_HOST = '127.0.0.1';
/** The first endpoint's key; the n-th's (n ≥ 2) is in `${REMOTE_KEY_ENV}_<n>`. */
export const REMOTE_KEY_ENV = 'SPILLWAY_REMOTE_API_KEY';

/** The id the n-th `--remote-url` endpoint gets (1-based): also its X-Spillway-Endpoint and its key's number. */
export function flagEndpointId(n: number): string {
  return `remote-${n}`;
}

export const HELP_TEXT = `Usage: npm run serve -- [options]
       node dist/electron/server/cli.js [options]

Runs Spillway without a window: the browser UI, the app API under /api and an
OpenAI-compatible API under /v1 (POST /v1/chat/completions, /v1/completions and
/v1/embeddings, GET /v1/models).

Options:
  --port <n>             Port to listen on (default ${DEFAULT_PORT}; 0 picks a free one).
  --host <address>       Address to listen on (default ${DEFAULT_HOST}). Anything but a
                         loopback address requires --api-key.
  --model <path>         Local GGUF model file.
  --embedding-model <path>  GGUF model that makes the local embeddings (POST /v1/embeddings)
                         beside --model (default: the --model itself makes them).
  --parallel <n>         Requests the local model answers at once, 1 to ${MAX_PARALLEL}
                         (default: as many as memory allows for that many contexts, up to 4).
  --remote-url <url>     Base URL of an OpenAI-compatible endpoint, e.g. a LAN server
                         (http://192.168.1.20:8080/v1) or https://api.openai.com/v1.
                         Repeat it for a route of several endpoints, tried in order.
  --remote-model <name>  Model to request from the endpoint; one per --remote-url, in order.
  --remote-tier <tier>   Declare an endpoint more permissive than its URL shows (private or
                         standard: a loopback proxy to the cloud, say); one per --remote-url.
                         A tier less permissive than the URL's is refused.
  --strategy <name>      local-first (default: the local model, then the endpoints in order),
                         local-only, cloud-only, or cloud-first (the endpoints, then the
                         local model when they fail).
  --max-tier <tier>      How far any request may travel: sovereign (this computer only),
                         private (up to the local network) or standard (anywhere).
  --first-token-timeout <ms>  Longest wait for the local model's first text (0: none).
  --cloud-timeout <ms>   An endpoint's limit on its first text and on any silence after.
  --data-dir <dir>       Where settings, conversations and the egress ledger live
                         (default ${defaultDataDir()}).
  --api-key <key>        Clients must send "Authorization: Bearer <key>" to /api and /v1.
                         Required when --host is not a loopback address.
  --allow-origin <origin>  Let web pages of this origin call /v1 (CORS, preflight
                         included); repeat for more. No other origin may, by default.
  -h, --help             Show this help.

Answers say who produced them: the "model" field, and the headers X-Spillway-Driver
(local or remote), X-Spillway-Endpoint (local, or remote-<n> for the n-th --remote-url)
and X-Spillway-Tier.

Environment:
  ${REMOTE_KEY_ENV}     API key of the first endpoint; ${REMOTE_KEY_ENV}_<n> of the
                              n-th (n ≥ 2). Read from the environment only, never from a
                              flag, so keys stay out of the process list.
  HF_TOKEN                  Hugging Face token for gated models (sent only to Hugging Face).
  HF_ENDPOINT               A Hugging Face mirror to download from.
  HTTPS_PROXY, NO_PROXY     Proxy for model downloads.

Flags override the stored settings for this run only; they are not saved.
`;

/** A bad flag or value: printed as is, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ServeConfig {
  host: string;
  port: number;
  apiKey?: string;
  dataDir: string;
  overrides: SettingsPatch;
  /** Keys of the flag endpoints, by endpoint id, from the environment. */
  endpointKeys: Record<string, string>;
  /** Browser origins allowed to call /v1. */
  allowOrigins: string[];
}

export type ParsedArgs = { help: true } | { help: false; config: ServeConfig };

/** Parses and validates argv (without node and the script); keys come from `env`. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        model: { type: 'string' },
        'embedding-model': { type: 'string' },
        parallel: { type: 'string' },
        'remote-url': { type: 'string', multiple: true },
        'remote-model': { type: 'string', multiple: true },
        'remote-tier': { type: 'string', multiple: true },
        strategy: { type: 'string' },
        'max-tier': { type: 'string' },
        'first-token-timeout': { type: 'string' },
        'cloud-timeout': { type: 'string' },
        'data-dir': { type: 'string' },
        'api-key': { type: 'string' },
        'allow-origin': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    // Node's messages go on to explain positional arguments; the first sentence is the useful part.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split(/\.\s/)[0]?.replace(/\.$/, '') ?? message);
  }
  if (values.help) return { help: true };

  const port = values.port ?? String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, not "${port}"`);
  const host = (values.host ?? DEFAULT_HOST).trim();
  if (!host) throw new UsageError('--host must not be empty');
  const apiKey = values['api-key']?.trim();
  if (values['api-key'] !== undefined && !apiKey) throw new UsageError('--api-key must not be empty');
  if (!isLoopbackHost(host) && !apiKey) {
    throw new UsageError(`--host ${host} would let other machines use your models and read your conversations; add --api-key <key>, or use --host 127.0.0.1`);
  }

  const overrides: SettingsPatch = {};
  const routing: NonNullable<SettingsPatch['routing']> = {};
  if (values.strategy !== undefined) {
    if (!(ROUTING_STRATEGIES as readonly string[]).includes(values.strategy)) {
      throw new UsageError(`--strategy must be one of ${ROUTING_STRATEGIES.join(', ')}, not "${values.strategy}"`);
    }
    routing.strategy = values.strategy as RoutingStrategy;
  }
  if (values['max-tier'] !== undefined) routing.ceiling = parseTier('--max-tier', values['max-tier']);
  if (values['first-token-timeout'] !== undefined) routing.firstTokenTimeoutMs = parseMs('--first-token-timeout', values['first-token-timeout'], 0);
  if (values['cloud-timeout'] !== undefined) routing.cloudTimeoutMs = parseMs('--cloud-timeout', values['cloud-timeout'], 1000);
  if (Object.keys(routing).length > 0) overrides.routing = routing;
  if (values.model !== undefined) {
    if (!values.model.trim()) throw new UsageError('--model must be a path to a GGUF file');
    overrides.local = { modelPath: resolve(values.model) };
  }
  if (values['embedding-model'] !== undefined) {
    if (!values['embedding-model'].trim()) throw new UsageError('--embedding-model must be a path to a GGUF file');
    overrides.local = { ...overrides.local, embeddingModelPath: resolve(values['embedding-model']) };
  }
  if (values.parallel !== undefined) {
    if (!/^\d{1,2}$/.test(values.parallel) || Number(values.parallel) < 1 || Number(values.parallel) > MAX_PARALLEL) {
      throw new UsageError(`--parallel must be a whole number from 1 to ${MAX_PARALLEL}, not "${values.parallel}"`);
    }
    overrides.local = { ...overrides.local, parallel: Number(values.parallel) };
  }
  const endpoints = parseEndpoints(values['remote-url'] ?? [], values['remote-model'] ?? [], values['remote-tier'] ?? []);
  if (endpoints.length > 0) overrides.endpoints = endpoints;
  const endpointKeys: Record<string, string> = {};
  endpoints.forEach((endpoint, i) => {
    const key = env[i === 0 ? REMOTE_KEY_ENV : `${REMOTE_KEY_ENV}_${i + 1}`]?.trim();
    if (key) endpointKeys[endpoint.id] = key;
  });

  const dataDir = values['data-dir'] !== undefined ? resolve(values['data-dir']) : defaultDataDir();
  const allowOrigins = (values['allow-origin'] ?? []).map(parseOrigin);
  return { help: false, config: { host, port: Number(port), dataDir, overrides, endpointKeys, allowOrigins, ...(apiKey ? { apiKey } : {}) } };
}

/** The endpoints the flags describe: the n-th --remote-url with the n-th --remote-model (and --remote-tier). */
function parseEndpoints(urls: string[], models: string[], tiers: string[]): EndpointSettings[] {
  const baseURLs = urls.map(parseHttpUrl);
  if (models.length !== urls.length) {
    throw new UsageError(`each --remote-url needs its --remote-model, in the same order (got ${urls.length} URL${urls.length === 1 ? '' : 's'} and ${models.length} model${models.length === 1 ? '' : 's'})`);
  }
  if (tiers.length > 0 && tiers.length !== urls.length) {
    throw new UsageError(`--remote-tier is paired with --remote-url: give one per endpoint, or none (got ${urls.length} URLs and ${tiers.length} tiers)`);
  }
  return baseURLs.map((baseURL, i) => {
    const model = models[i]!.trim();
    if (!model || model.length > 200) throw new UsageError('--remote-model must be a model name of 1 to 200 characters');
    const tier = tiers[i] === undefined ? null : parseTier('--remote-tier', tiers[i]);
    try {
      resolveTier(baseURL, tier);
    } catch (error) {
      if (error instanceof DriverError) throw new UsageError(`--remote-tier ${tier}: ${error.message.replace(/\.$/, '')}`);
      throw error;
    }
    return {
      id: flagEndpointId(i + 1),
      name: new URL(baseURL).host,
      preset: 'custom',
      baseURL,
      model,
      contextWindow: 128_000,
      tier,
      capabilities: { images: null, tools: null, embeddings: null },
      learned: {},
      enabled: true,
    } satisfies EndpointSettings;
  });
}

/** An origin as browsers send it: scheme, host and port, nothing else. */
function parseOrigin(value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // refused below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value.replace(/\/$/, '')) {
    throw new UsageError(`--allow-origin must be an origin such as https://app.example or http://localhost:3000 (no path), not "${value}"`);
  }
  return url.origin;
}

function parseTier(flag: string, value: string): PrivacyTier {
  if (!(PRIVACY_TIERS as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${PRIVACY_TIERS.join(', ')}, not "${value}"`);
  return value as PrivacyTier;
}

function parseMs(flag: string, value: string, min: number): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) < min || Number(value) > 3_600_000) {
    throw new UsageError(`${flag} must be a whole number of milliseconds from ${min} to 3600000, not "${value}"`);
  }
  return Number(value);
}

function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--remote-url must be an http:// or https:// URL, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--remote-url must be an http:// or https:// URL, not "${value}"`);
  return value;
}
