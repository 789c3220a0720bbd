/**
 * `npm run serve`: Spillway without a window. Parses the flags, starts the services and the HTTP server,
 * reports the local model's state as it becomes known, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineStatus, PublicSettings, RouterState } from '../contract/index.js';
import { createServices, type Services } from '../services/app-services.js';
import { acquireDataLock, DataLockError } from '../services/data-lock.js';
import { MemorySecretStore } from '../services/secret-store.js';
import { HF_TOKEN } from '../services/settings-service.js';
import { HELP_TEXT, parseServeArgs, UsageError, type ServeConfig } from './cli-args.js';
import { startServer, type RunningServer } from './http-server.js';
import { packageRoot } from '../services/paths.js';

/** Longest a shutdown may take before the process gives up waiting and exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

const out = (line: string): void => void process.stdout.write(`${line}\n`);
// Ctrl+C reaches the inference host too; its exit during shutdown is expected, not worth a warning.
let stopping = false;
const warn = (line: string): void => void process.stderr.write(`warning: ${line}\n`);

/** Runs the command; resolves with an exit code, or null once the server is up (signals end it). */
async function main(argv: string[]): Promise<number | null> {
  let config: ServeConfig;
  try {
    const parsed = parseServeArgs(argv);
    if (parsed.help) {
      process.stdout.write(HELP_TEXT);
      return 0;
    }
    config = parsed.config;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`spillway serve: ${error.message}.\nRun with --help to see the options.\n`);
    return 2;
  }

  // One writer per data folder (defaultDataDir, shared with the desktop app, which may be running).
  try {
    acquireDataLock(config.dataDir, 'headless');
  } catch (error) {
    if (!(error instanceof DataLockError)) throw error;
    process.stderr.write(`spillway serve: ${error.message}\n`);
    return 1;
  }

  const services = await createServices({
    dataDir: config.dataDir,
    mode: 'headless',
    version: readVersion(),
    secrets: new MemorySecretStore(config.endpointKeys),
    // Gated Hugging Face models: the token comes from the environment, like the endpoint keys.
    hfToken: new MemorySecretStore({ [HF_TOKEN]: process.env.HF_TOKEN?.trim() }),
    overrides: config.overrides,
    warmUp: true,
  });
  reportEngine(services);

  let server: RunningServer;
  try {
    server = await startServer({ services, host: config.host, port: config.port, allowOrigins: config.allowOrigins, ...(config.apiKey ? { apiKey: config.apiKey } : {}) });
  } catch (error) {
    await services.shutdown();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') process.stderr.write(`spillway serve: port ${config.port} on ${config.host} is already in use; choose another with --port.\n`);
    else process.stderr.write(`spillway serve: cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  await printSummary(services, server, config);
  const info = await services.call('app:info', {});
  if (info.ok) for (const notice of info.value.notices) warn(notice.message);

  const stop = async (): Promise<void> => {
    // A second Ctrl+C means "now".
    if (stopping) process.exit(1);
    stopping = true;
    out('Shutting down…');
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    await services.shutdown();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  return null;
}

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

async function printSummary(services: Services, server: RunningServer, config: ServeConfig): Promise<void> {
  const [state, settings] = await Promise.all([value(services.call('router:get', {})), value(services.call('settings:get', {}))]);
  out(`Spillway ${readVersion()} (headless) listening on ${server.url}`);
  out(`  OpenAI-compatible API: ${server.url}/v1${config.apiKey ? ' (Authorization: Bearer <your --api-key>)' : ''}`);
  out(`  Strategy: ${state.strategy}, up to ${state.ceiling}`);
  out(`  Local model: ${settings.local.modelPath ?? 'none'}`);
  const endpoints = state.route.filter((entry) => entry.kind === 'remote');
  if (endpoints.length === 0) out('  Endpoints: none');
  for (const entry of endpoints) out(`  Endpoint ${entry.id}: ${entry.host} (${entry.model}, ${entry.tier})${entry.excluded ? `, not used: ${entry.excluded}` : ''}`);
  out(`  Data: ${config.dataDir}`);
  warnAboutRoute(state, settings);
}

/** Says when the strategy has nothing to answer with. */
function warnAboutRoute(state: RouterState, settings: PublicSettings): void {
  const incomplete = settings.endpoints.filter((e) => e.enabled && !e.model.trim());
  for (const endpoint of incomplete) warn(`endpoint ${endpoint.id} (${endpoint.baseURL}) has no model set, so it is not used.`);
  const usableRemote = state.route.some((entry) => entry.kind === 'remote' && entry.excluded === undefined);
  if (state.strategy !== 'local-only' && !state.route.some((entry) => entry.kind === 'remote')) {
    warn(`no endpoint is configured (--remote-url and --remote-model)${state.strategy === 'cloud-only' ? ': cloud-only requests will fail' : ''}.`);
  } else if (state.strategy === 'cloud-only' && !usableRemote) {
    warn(`--max-tier ${state.ceiling} rules out every endpoint: cloud-only requests will fail.`);
  }
  if (state.strategy !== 'cloud-only' && settings.local.modelPath === null) warn('no local model is set (--model <path.gguf>): requests go to the endpoints or fail.');
}

/** The value of a call that cannot fail here (the services just started), or the error as an exception. */
async function value<T>(result: Promise<{ ok: true; value: T } | { ok: false; error: { message: string } }>): Promise<T> {
  const settled = await result;
  if (!settled.ok) throw new Error(settled.error.message);
  return settled.value;
}

/** Prints the local model's state as the background load settles, and again whenever it changes. */
function reportEngine(services: Services): void {
  let last = '';
  const show = (status: EngineStatus): void => {
    let line = '';
    if (stopping) return;
    if (status.state === 'ready' && status.info) {
      const { modelName, backend, contextSize, sequences } = status.info;
      line = `Local model ready: ${modelName} (${backend}, context ${contextSize} tokens, ${sequences} request${sequences === 1 ? '' : 's'} at once)`;
    } else if (status.state === 'error' && status.error) {
      line = `local model ${status.modelPath ?? ''} cannot be used: ${status.error.message}`;
    }
    if (!line || line === last) return;
    last = line;
    if (status.state === 'error') warn(line);
    else out(line);
  };
  services.on('engine:update', show);
  services.on('notice', (notice) => warn(notice.message));
  void services.call('engine:status', {}).then((status) => status.ok && show(status.value));
}

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode rather than exit(): the help text must reach a pipe in full before the process ends.
    if (code !== null) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`spillway serve: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
