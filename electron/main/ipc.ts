/**
 * The IPC adapter: one ipcMain handler per contract channel, each checking who is calling before the
 * services see the request, and service events forwarded to the app's window. No logic of its own beyond
 * that; validation and everything else happens in the services.
 */
import type { BrowserWindow, IpcMain, WebContents, WebFrameMain } from 'electron';
import { CHANNELS, type AppApi, type AppError, type Channel, type Result } from '../contract/index.js';
import type { UrlCheck } from './security.js';

/** Who sent an IPC message: the fields of IpcMainInvokeEvent the check reads. */
export interface FrameSource {
  sender: WebContents;
  senderFrame: WebFrameMain | null;
}

export type FrameCheck = (source: FrameSource) => boolean;

/**
 * Trusts only the main window's top frame while it shows the app's own page.
 * https://www.electronjs.org/docs/latest/tutorial/security#17-validate-the-sender-of-all-ipc-messages
 */
export function trustedFrameCheck(options: { isAppPage: UrlCheck; getMainWindow: () => BrowserWindow | null }): FrameCheck {
  return ({ sender, senderFrame }) => {
    try {
      const window = options.getMainWindow();
      if (!window || window.isDestroyed() || sender !== window.webContents) return false;
      // null once the frame has navigated away or gone; a frame with a parent is an iframe.
      if (!senderFrame || senderFrame.isDestroyed() || senderFrame.detached || senderFrame.parent !== null) return false;
      return options.isAppPage(senderFrame.url);
    } catch {
      return false;
    }
  };
}

export interface IpcDependencies {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  services: Pick<AppApi, 'call' | 'onAny'>;
  isTrustedFrame: FrameCheck;
  /** Windows that may receive service events (each is checked with isTrustedFrame before sending). */
  getWindows: () => readonly BrowserWindow[];
  log?: (message: string) => void;
}

const forbidden: AppError = { code: 'FORBIDDEN', message: 'This page may not call Spillway.', retryable: false };

/** Registers a handler for every contract channel and forwards service events; returns the undo. */
export function registerIpc(deps: IpcDependencies): () => void {
  const log = deps.log ?? ((message: string) => console.warn(message));

  for (const channel of CHANNELS) {
    deps.ipcMain.handle(channel, async (event, request: unknown): Promise<Result<unknown>> => {
      try {
        if (!deps.isTrustedFrame(event)) {
          // The request is never logged: settings:setApiKey carries the key.
          log(`Spillway: refused ${channel} from a frame that is not the app's page.`);
          return { ok: false, error: forbidden };
        }
        return await deps.services.call(channel as Channel, request);
      } catch (error) {
        // services.call turns its own failures into data; this is the adapter itself failing. Electron
        // would rewrite a thrown error into an opaque string, so it crosses as data too.
        log(`Spillway: IPC handler for ${channel} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        return { ok: false, error: { code: 'INTERNAL', message: 'Something went wrong inside Spillway.', retryable: false } };
      }
    });
  }

  const unsubscribe = deps.services.onAny((event, payload) => {
    for (const window of deps.getWindows()) {
      if (window.isDestroyed()) continue;
      const contents = window.webContents;
      if (contents.isDestroyed() || contents.isCrashed()) continue;
      // Answers are private: only ever pushed to the app's own page, never to whatever a frame became.
      if (!deps.isTrustedFrame({ sender: contents, senderFrame: contents.mainFrame })) continue;
      contents.send(event, payload);
    }
  });

  return () => {
    unsubscribe();
    for (const channel of CHANNELS) deps.ipcMain.removeHandler(channel);
  };
}
