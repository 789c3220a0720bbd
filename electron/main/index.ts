/**
 * Electron main: lifecycle only. It wires the app's services to one hardened window over IPC, to a
 * utilityProcess inference host, to safeStorage, and (opt-in) to the local HTTP server. Everything it
 * wires lives in a file that takes Electron objects as parameters and is tested without Electron.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, safeStorage, session, shell, utilityProcess } from 'electron';
import { startServer } from '../server/http-server.js';
import { createServices, type Services } from '../services/app-services.js';
import { MIGRATED_ENDPOINT_ID } from '../services/settings-migration.js';
import { HF_TOKEN } from '../services/settings-service.js';
import { utilityHostLauncher } from './host-launcher.js';
import { registerIpc, trustedFrameCheck } from './ipc.js';
import { LocalServer } from './local-server.js';
import { SafeStorageSecretStore } from './secrets.js';
import { appPageMatcher, hardenSession, hardenWebContents } from './security.js';
import { createMainWindow } from './window.js';

const here = dirname(fileURLToPath(import.meta.url));
const preloadPath = join(here, '../preload/index.cjs');
const rendererIndex = join(here, '../../renderer/index.html');
const isAppPage = appPageMatcher(rendererIndex);
/** Past this, quitting stops waiting for a clean shutdown (a wedged host must not keep the app alive). */
const SHUTDOWN_TIMEOUT_MS = 10_000;

let mainWindow: BrowserWindow | null = null;
let services: Services | null = null;

// Pin the data directory to the product name: otherwise `npm start` (package name `spillway`) and the
// packaged app (productName `Spillway`) would keep separate settings on case-sensitive file systems.
// SPILLWAY_DATA_DIR points it elsewhere (the e2e smoke test, portable setups). Set before the
// single-instance lock, which lives in this directory.
const dataDirOverride = process.env.SPILLWAY_DATA_DIR;
app.setPath('userData', dataDirOverride ? resolve(dataDirOverride) : join(app.getPath('appData'), 'Spillway'));

if (!app.requestSingleInstanceLock()) {
  // Two instances would write the same settings and conversation files.
  app.quit();
} else {
  // Sandbox every renderer, including any a future change forgets to configure.
  app.enableSandbox();
  app.on('web-contents-created', (_event, contents) => {
    hardenWebContents(contents, { isAppPage, openExternal: (url) => shell.openExternal(url) });
  });
  app.on('second-instance', () => focusWindow());
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  process.on('unhandledRejection', (reason) => console.error('Spillway: unhandled rejection', reason));
  start().catch(fatal);
}

async function start(): Promise<void> {
  await app.whenReady();
  hardenSession(session.defaultSession);

  const dataDir = app.getPath('userData');
  const warnings: string[] = [];
  const warn = (message: string): void => void warnings.push(message);
  // The first build kept one key; it becomes the key of the endpoint its settings migrate to.
  const secrets = await SafeStorageSecretStore.open(join(dataDir, 'secrets.json'), safeStorage, { warn, legacyName: MIGRATED_ENDPOINT_ID });
  const hfToken = await SafeStorageSecretStore.open(join(dataDir, 'hf-token.json'), safeStorage, { warn, legacyName: HF_TOKEN, what: 'Hugging Face token' });
  const appServices = await createServices({
    dataDir,
    mode: 'desktop',
    version: app.getVersion(),
    secrets,
    hfToken,
    pickModelFile: async () => {
      const parent = BrowserWindow.getAllWindows()[0];
      const options = { title: 'Add a GGUF model', properties: ['openFile' as const], filters: [{ name: 'GGUF models', extensions: ['gguf'] }] };
      const picked = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
      return picked.canceled ? null : (picked.filePaths[0] ?? null);
    },
    launcher: utilityHostLauncher((modulePath, args, options) => utilityProcess.fork(modulePath, args, options)),
    warmUp: true,
  });
  services = appServices;
  for (const message of warnings) appServices.notify('warning', message);

  const unregisterIpc = registerIpc({
    ipcMain,
    services: appServices,
    isTrustedFrame: trustedFrameCheck({ isAppPage, getMainWindow: () => mainWindow }),
    getWindows: () => (mainWindow ? [mainWindow] : []),
  });

  const localServer = new LocalServer({
    start: ({ host, port }) => startServer({ services: appServices, host, port }),
    notify: (level, message) => appServices.notify(level, message),
  });
  appServices.on('settings:update', (settings) => void localServer.apply(settings.server));
  void appServices.call('settings:get', {}).then((settings) => {
    if (settings.ok) void localServer.apply(settings.value.server);
  });

  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting) return;
    // Hold the quit once: answers are cancelled and their partial text saved, the host stopped, files flushed.
    event.preventDefault();
    quitting = true;
    const clean = Promise.allSettled([localServer.stop(), appServices.shutdown()]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
    });
    void Promise.race([clean, timeout]).finally(() => {
      clearTimeout(timer);
      unregisterIpc();
      app.exit(0);
    });
  });

  app.on('activate', () => {
    if (!mainWindow) openWindow();
  });
  openWindow();
}

function openWindow(): void {
  if (!existsSync(rendererIndex)) {
    dialog.showErrorBox('Spillway', `The app's interface is missing (${rendererIndex}). Build it with \`npm run build\`.`);
    app.quit();
    return;
  }
  const window = createMainWindow(BrowserWindow, preloadPath);
  mainWindow = window;
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  window.loadFile(rendererIndex).catch((error: unknown) => console.error('Spillway: the interface failed to load', error));
}

function focusWindow(): void {
  if (!mainWindow) {
    if (services) openWindow();
    return;
  }
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.show();
  mainWindow.focus();
}

function fatal(error: unknown): void {
  console.error('Spillway could not start', error);
  const message = error instanceof Error ? error.message : String(error);
  if (app.isReady()) dialog.showErrorBox('Spillway could not start', message);
  app.exit(1);
}
