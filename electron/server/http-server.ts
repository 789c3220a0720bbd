/**
 * Headless mode's HTTP server: a thin adapter that translates HTTP to the same services the desktop app
 * uses. `/api` is the app contract for the browser UI, `/v1` the OpenAI-compatible API, everything else
 * the built UI. See security.ts for who may connect.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Services } from '../services/app-services.js';
import { errorResult, handleAppApi } from './app-api.js';
import { sendJson, sendText } from './http-util.js';
import { handleOpenAI } from './openai-api.js';
import { openAIError } from './openai-format.js';
import { defaultStaticDir } from '../services/paths.js';
import { allowCrossOrigin, allowedHostHeaders, answerPreflight, assertBindAllowed, bearerMatches, corsOrigin, hostAllowed, hostWithPort, isWildcardHost, originAllowed } from './security.js';
import { serveStatic } from './static.js';

export interface ServerOptions {
  services: Services;
  host: string;
  /** 0 picks a free port; the running server reports the real one. */
  port: number;
  /** Required for /api and /v1 as `Authorization: Bearer <key>` when set; mandatory off loopback. */
  apiKey?: string;
  /** The built UI; defaults to dist/renderer. */
  staticDir?: string;
  /** Browser origins (`https://app.example`) allowed to call /v1, with CORS; none by default. */
  allowOrigins?: readonly string[];
}

export interface RunningServer {
  /** Where a client on this machine reaches the server, e.g. `http://127.0.0.1:8765`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

type Area = 'api' | 'v1' | 'static';

/** Starts listening; throws before binding when a non-loopback host has no API key. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { services, host, apiKey } = options;
  assertBindAllowed(host, apiKey);
  const allowOrigins = new Set((options.allowOrigins ?? []).map((origin) => origin.toLowerCase()));
  const staticDir = options.staticDir ?? defaultStaticDir();
  let allowedHosts: Set<string> | null = new Set();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('spillway server: request failed', error);
      if (res.headersSent) res.destroy();
      else sendText(res, 500, 'Internal server error.');
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A fixed base: the Host header is untrusted and must not shape the parsed path.
    const path = new URL(req.url ?? '/', 'http://spillway.invalid').pathname;
    const area: Area = path === '/api' || path.startsWith('/api/') ? 'api' : path === '/v1' || path.startsWith('/v1/') ? 'v1' : 'static';
    if (!hostAllowed(req, allowedHosts)) return refuse(res, area, 403, 'FORBIDDEN', 'This server only answers requests addressed to its own host and port.');
    // Only /v1 is ever shared with another origin: the app API carries conversations and settings.
    const crossOrigin = area === 'v1' ? corsOrigin(req, allowOrigins) : null;
    if (!originAllowed(req) && !crossOrigin) return refuse(res, area, 403, 'FORBIDDEN', 'Cross-origin requests are not allowed.');
    if (crossOrigin) {
      allowCrossOrigin(res, crossOrigin);
      // The preflight carries no key: it only asks what the real request may do.
      if (req.method === 'OPTIONS') return answerPreflight(req, res);
    }
    // The UI page itself may load without the key; everything that reaches the services needs it.
    if (apiKey && area !== 'static' && !bearerMatches(req, apiKey)) {
      return refuse(res, area, 401, 'AUTH', 'A valid API key is required: send Authorization: Bearer <key>.', { 'www-authenticate': 'Bearer' });
    }
    if (area === 'api') return handleAppApi(req, res, path, services);
    if (area === 'v1') return handleOpenAI(req, res, path, services.openai);
    return serveStatic(req, res, path, staticDir);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = allowedHostHeaders(host, port);
  const reachableAt = isWildcardHost(host) ? (host.includes(':') ? '::1' : '127.0.0.1') : host;

  return {
    url: `http://${hostWithPort(reachableAt, port)}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Event streams never end on their own; without this, close() would wait for every browser tab.
        server.closeAllConnections();
      }),
  };
}

function refuse(res: ServerResponse, area: Area, status: number, code: 'FORBIDDEN' | 'AUTH', message: string, headers: Record<string, string> = {}): void {
  if (area === 'api') return sendJson(res, status, errorResult(code, message), headers);
  if (area === 'v1') return sendJson(res, status, openAIError(status, message, status === 401 ? 'invalid_api_key' : 'forbidden'), headers);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendText(res, status, message);
}
