/**
 * `npm run serve`: Spillway without a window. Parses the flags, starts the services and the HTTP server,
 * reports the local model's state as it becomes known, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineStatus } from '../contract/index.js';
import { AppServices } from '../services/app-services.js';
import { acquireDataLock, DataLockError } from '../services/data-lock.js';
import { MemorySecretStore } from '../services/secret-store.js';
import { HELP_TEXT, parseServeArgs, REMOTE_KEY_ENV, STRATEGIES, UsageError, type ServeConfig } from './cli-args.js';
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

  const remoteKey = process.env[REMOTE_KEY_ENV]?.trim() || null;
  const services = await AppServices.create({
    dataDir: config.dataDir,
    mode: 'headless',
    version: readVersion(),
    secrets: new MemorySecretStore(remoteKey),
    // Gated Hugging Face models: the token comes from the environment, like the cloud key.
    hfToken: new MemorySecretStore(process.env.HF_TOKEN?.trim() || null),
    overrides: config.overrides,
    warmUp: true,
  });
  reportEngine(services);

  let server: RunningServer;
  try {
    server = await startServer({ services, host: config.host, port: config.port, ...(config.apiKey ? { apiKey: config.apiKey } : {}) });
  } catch (error) {
    await services.shutdown();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') process.stderr.write(`spillway serve: port ${config.port} on ${config.host} is already in use; choose another with --port.\n`);
    else process.stderr.write(`spillway serve: cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  printSummary(services, server, config);
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

function printSummary(services: AppServices, server: RunningServer, config: ServeConfig): void {
  const state = services.routing.state();
  const settings = services.settings();
  const strategy = Object.keys(STRATEGIES).find((name) => STRATEGIES[name] === state.strategy) ?? state.strategy;
  out(`Spillway ${readVersion()} (headless) listening on ${server.url}`);
  out(`  OpenAI-compatible API: ${server.url}/v1${config.apiKey ? ' (Authorization: Bearer <your --api-key>)' : ''}`);
  out(`  Strategy: ${strategy}`);
  out(`  Local model: ${settings.local.modelPath ?? 'none'}`);
  out(`  Cloud: ${state.hasCloud ? `${settings.cloud.baseURL} (${settings.cloud.model})` : 'none'}`);
  out(`  Data: ${config.dataDir}`);
  if (state.strategy !== 'primary-only' && !state.hasCloud) {
    const why = settings.cloud.baseURL ? 'no --remote-model is set' : 'no --remote-url is set';
    warn(`no cloud endpoint is usable (${why})${state.strategy === 'fallback-only' ? ': cloud-only requests will fail' : ''}.`);
  }
  if (state.strategy !== 'fallback-only' && !state.hasLocalModel) warn('no local model is set (--model <path.gguf>): requests go to the cloud or fail.');
}

/** Prints the local model's state as the background load settles, and again whenever it changes. */
function reportEngine(services: AppServices): void {
  let last = '';
  const show = (status: EngineStatus): void => {
    let line = '';
    if (stopping) return;
    if (status.state === 'ready' && status.info) {
      line = `Local model ready: ${status.info.modelName} (${status.info.backend}, context ${status.info.contextSize} tokens)`;
    } else if (status.state === 'error' && status.error) {
      line = `local model ${status.modelPath ?? ''} cannot be used: ${status.error.message}`;
    }
    if (!line || line === last) return;
    last = line;
    if (status.state === 'error') warn(line);
    else out(line);
  };
  services.subscribe((event, payload) => {
    if (event === 'engine:update') show(payload as EngineStatus);
    if (event === 'notice') warn((payload as { message: string }).message);
  });
  show(services.routing.engineStatus());
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
