/**
 * The opt-in OpenAI-compatible server on 127.0.0.1 (settings.server), started and stopped as the setting
 * changes. Changes are applied one at a time, in order, so toggling quickly never leaves two servers or
 * a server nobody can stop.
 */
import type { Settings } from '../contract/index.js';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void> | void;
}

/** Starts the HTTP adapter on host:port (electron/server/http-server.ts's startServer in the app). */
export type StartServer = (options: { host: string; port: number }) => Promise<RunningServer>;

export interface LocalServerOptions {
  start: StartServer;
  /** Tells the user when the server could not start (port taken, …). */
  notify: (level: 'info' | 'error', message: string) => void;
}

const HOST = '127.0.0.1';

export class LocalServer {
  private running: RunningServer | null = null;
  private queue: Promise<void> = Promise.resolve();
  /** The port that last failed to start: unrelated settings changes must not retry and re-notify. */
  private failedPort: number | null = null;

  constructor(private readonly options: LocalServerOptions) {}

  /** The running server's URL, or null. */
  get url(): string | null {
    return this.running?.url ?? null;
  }

  /** Makes the server match the settings: start, stop, or restart on a new port. */
  apply(server: Settings['server']): Promise<void> {
    const wanted = { enabled: server.enabled, port: server.port };
    this.queue = this.queue.then(() => this.reconcile(wanted));
    return this.queue;
  }

  /** Stops the server if it runs (at quit). */
  stop(): Promise<void> {
    return this.apply({ enabled: false, port: this.running?.port ?? 0 });
  }

  private async reconcile(wanted: Settings['server']): Promise<void> {
    if (this.running && (!wanted.enabled || this.running.port !== wanted.port)) {
      const running = this.running;
      this.running = null;
      try {
        await running.close();
      } catch (error) {
        this.options.notify('error', `The local API server did not stop cleanly: ${messageOf(error)}`);
      }
    }
    if (!wanted.enabled) {
      this.failedPort = null;
      return;
    }
    if (this.running || this.failedPort === wanted.port) return;
    try {
      this.running = await this.options.start({ host: HOST, port: wanted.port });
      this.failedPort = null;
      this.options.notify('info', `The local OpenAI-compatible API is listening on ${this.running.url}.`);
    } catch (error) {
      this.failedPort = wanted.port;
      this.options.notify('error', `The local API server could not start on ${HOST}:${wanted.port}: ${messageOf(error)}`);
    }
  }
}

function messageOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return 'the port is already in use. Choose another port in Settings.';
  return error instanceof Error ? error.message : String(error);
}
