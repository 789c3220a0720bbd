/**
 * Ending the app cleanly, whatever ends it: a quit, a Windows log-off or shutdown (a window's
 * query-session-end and session-end), or a Linux/macOS system shutdown (powerMonitor's shutdown). Each
 * runs the same steps once: answers cancelled and their partial text saved, the inference host stopped,
 * files flushed; then the process exits, at the latest after a timeout so a wedged host cannot keep it.
 */
import type { App, BrowserWindow, Event, PowerMonitor } from 'electron';

export interface CleanExitOptions {
  /** Everything to finish before exiting. */
  stop: () => Promise<unknown>;
  exit: (code: number) => void;
  /** Past this, exit without waiting any longer. */
  timeoutMs: number;
}

/** Returns the shutdown: the first call runs it, later calls get the same promise. */
export function cleanExit({ stop, exit, timeoutMs }: CleanExitOptions): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => {
    running ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([stop().catch((error: unknown) => console.error('Spillway: an error while shutting down', error)), timeout]);
      clearTimeout(timer);
      exit(0);
    })();
    return running;
  };
}

type AppEvents = Pick<App, 'on'>;
type PowerEvents = Pick<PowerMonitor, 'on'>;

/** Routes the app's quit and the system's shutdown to the one shutdown. */
export function endOnQuitAndShutdown(app: AppEvents, powerMonitor: PowerEvents, shutdown: () => Promise<void>): void {
  app.on('before-quit', (event: Event) => {
    // Held while the shutdown runs; it ends with app.exit, which does not come back here.
    event.preventDefault();
    void shutdown();
  });
  // Typed without its argument, but Electron passes an event whose preventDefault asks the OS to wait
  // (Linux, macOS) while the shutdown runs.
  powerMonitor.on('shutdown', (...args: unknown[]) => {
    (args[0] as Event | undefined)?.preventDefault();
    void shutdown();
  });
}

/** Windows log-off and shutdown, which reach windows rather than the app. */
export function endOnSessionEnd(window: Pick<BrowserWindow, 'on'>, shutdown: () => Promise<void>): void {
  // query-session-end comes first, while Windows still waits for answers: the save starts there.
  // session-end cannot be delayed; it covers a forced log-off that skips the query.
  window.on('query-session-end', () => void shutdown());
  window.on('session-end', () => void shutdown());
}
