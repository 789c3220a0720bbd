/** Command-line flags of `npm run serve`: parsed strictly, each bad value refused with one clear message. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RoutingStrategy, SettingsPatch } from '../contract/index.js';
import { defaultDataDir } from '../services/paths.js';
import { isLoopbackHost } from './security.js';

export const DEFAULT_PORT = 8765;
export const DEFAULT_HOST = '127.0.0.1';
export const REMOTE_KEY_ENV = 'SPILLWAY_REMOTE_API_KEY';

/** The names users type, mapped to the router's strategies. */
export const STRATEGIES: Record<string, RoutingStrategy> = {
  'local-first': 'primary-with-fallback',
  'local-only': 'primary-only',
  'cloud-only': 'fallback-only',
};

export const HELP_TEXT = `Usage: npm run serve -- [options]
       node dist/electron/server/cli.js [options]

Runs Spillway without a window: the browser UI, the app API under /api and an
OpenAI-compatible API under /v1 (POST /v1/chat/completions, GET /v1/models).

Options:
  --port <n>             Port to listen on (default ${DEFAULT_PORT}; 0 picks a free one).
  --host <address>       Address to listen on (default ${DEFAULT_HOST}). Anything but a
                         loopback address requires --api-key.
  --model <path>         Local GGUF model file.
  --remote-url <url>     Base URL of an OpenAI-compatible cloud endpoint, e.g.
                         https://api.openai.com/v1 or http://127.0.0.1:11434/v1.
  --remote-model <name>  Model name to request from the cloud endpoint.
  --strategy <name>      local-first (default: local model, cloud when it cannot answer),
                         local-only (never the cloud) or cloud-only.
  --data-dir <dir>       Where settings and conversations live
                         (default ${defaultDataDir()}).
  --api-key <key>        Clients must send "Authorization: Bearer <key>" to /api and /v1.
                         Required when --host is not a loopback address.
  -h, --help             Show this help.

Environment:
  ${REMOTE_KEY_ENV}   API key for the cloud endpoint. Read from the environment
                            only, never from a flag, so it stays out of the process list.
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
}

export type ParsedArgs = { help: true } | { help: false; config: ServeConfig };

/** Parses and validates argv (without node and the script). */
export function parseServeArgs(argv: string[]): ParsedArgs {
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
        'remote-url': { type: 'string' },
        'remote-model': { type: 'string' },
        strategy: { type: 'string' },
        'data-dir': { type: 'string' },
        'api-key': { type: 'string' },
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
  if (values.strategy !== undefined) {
    const strategy = Object.hasOwn(STRATEGIES, values.strategy) ? STRATEGIES[values.strategy] : undefined;
    if (!strategy) throw new UsageError(`--strategy must be one of ${Object.keys(STRATEGIES).join(', ')}, not "${values.strategy}"`);
    overrides.routing = { strategy };
  }
  if (values.model !== undefined) {
    if (!values.model.trim()) throw new UsageError('--model must be a path to a GGUF file');
    overrides.local = { modelPath: resolve(values.model) };
  }
  const cloud: NonNullable<SettingsPatch['cloud']> = {};
  if (values['remote-url'] !== undefined) {
    cloud.baseURL = parseHttpUrl(values['remote-url']);
    cloud.preset = 'custom';
  }
  if (values['remote-model'] !== undefined) {
    const model = values['remote-model'].trim();
    if (!model || model.length > 200) throw new UsageError('--remote-model must be a model name of 1 to 200 characters');
    cloud.model = model;
  }
  if (Object.keys(cloud).length > 0) overrides.cloud = cloud;

  const dataDir = values['data-dir'] !== undefined ? resolve(values['data-dir']) : defaultDataDir();
  return { help: false, config: { host, port: Number(port), dataDir, overrides, ...(apiKey ? { apiKey } : {}) } };
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
