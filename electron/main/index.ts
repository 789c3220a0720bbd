/**
 * Electron main: lifecycle only. It wires the app's services to one hardened window over IPC, to a
 * utilityProcess inference host, to safeStorage, and (opt-in) to the local HTTP server. Everything it
 * wires lives in a file that takes Electron objects as parameters and is tested without Electron.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, powerMonitor, safeStorage, session, shell, utilityProcess } from 'electron';
import { startServer } from '../server/http-server.js';
import { createServices, type Services } from '../services/app-services.js';
import { acquireDataLock, type DataLock, DataLockError } from '../services/data-lock.js';
import { defaultDataDir } from '../services/paths.js';
import { MIGRATED_ENDPOINT_ID } from '../services/settings-migration.js';
import { HF_TOKEN } from '../services/settings-service.js';
import { sessionDataDir } from './folders.js';
import { utilityHostLauncher } from './host-launcher.js';
import { registerIpc, trustedFrameCheck } from './ipc.js';
import { cleanExit, endOnQuitAndShutdown, endOnSessionEnd } from './lifecycle.js';
import { LocalServer } from './local-server.js';
import { appMenuTemplate } from './menu.js';
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
let shutdown: (() => Promise<void>) | null = null;

// The same data folder as headless mode (SPILLWAY_DATA_DIR points both elsewhere), so `npm start`, the
// packaged app and `npm run serve` share settings and conversations; Chromium's caches go to the cache
// folder. Set before the single-instance lock, which lives in the data folder.
const dataDir = defaultDataDir();
app.setPath('userData', dataDir);
app.setPath('sessionData', sessionDataDir(dataDir));

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
  // The single-instance lock keeps a second window away; this one keeps `npm run serve` on the same
  // folder from writing alongside.
  let dataLock: DataLock;
  try {
    dataLock = acquireDataLock(dataDir, 'desktop');
  } catch (error) {
    if (!(error instanceof DataLockError)) throw error;
    dialog.showErrorBox('Spillway is already running', `Spillway cannot start: ${error.message}`);
    app.exit(1);
    return;
  }
  hardenSession(session.defaultSession, isAppPage);
  Menu.setApplicationMenu(Menu.buildFromTemplate(appMenuTemplate(process.platform, { packaged: app.isPackaged })));

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

  shutdown = cleanExit({
    stop: () => Promise.allSettled([localServer.stop(), appServices.shutdown()]),
    exit: (code) => {
      unregisterIpc();
      dataLock.release();
      app.exit(code);
    },
    timeoutMs: SHUTDOWN_TIMEOUT_MS,
  });
  endOnQuitAndShutdown(app, powerMonitor, shutdown);

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
  if (shutdown) endOnSessionEnd(window, shutdown);
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
