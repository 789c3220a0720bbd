/**
 * The one app window. Its webPreferences are the renderer half of the security baseline; the builder is
 * exported so a test pins every flag without starting Electron.
 */
import type { BrowserWindow, BrowserWindowConstructorOptions } from 'electron';

/** Window options with the hardened webPreferences. */
export function mainWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    title: 'Spillway',
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 480,
    // Shown on ready-to-show so the user never sees an empty white frame.
    show: false,
    webPreferences: {
      preload: preloadPath,
      // https://www.electronjs.org/docs/latest/tutorial/security#3-enable-context-isolation
      contextIsolation: true,
      // https://www.electronjs.org/docs/latest/tutorial/security#4-enable-process-sandboxing
      sandbox: true,
      // https://www.electronjs.org/docs/latest/tutorial/security#2-do-not-enable-nodejs-integration-for-remote-content
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      // https://www.electronjs.org/docs/latest/tutorial/security#6-do-not-disable-websecurity
      webSecurity: true,
      // https://www.electronjs.org/docs/latest/tutorial/security#8-do-not-enable-allowrunninginsecurecontent
      allowRunningInsecureContent: false,
      // https://www.electronjs.org/docs/latest/tutorial/security#9-do-not-enable-experimental-features
      experimentalFeatures: false,
      // https://www.electronjs.org/docs/latest/tutorial/security#11-do-not-use-allowpopups-for-webviews
      webviewTag: false,
      // A file dropped on the window would otherwise replace the app with that file.
      navigateOnDragDrop: false,
      // On Linux Chromium downloads spellcheck dictionaries from a Google CDN; a local-first app stays quiet.
      spellcheck: false,
    },
  };
}

/** The BrowserWindow constructor, passed in so this file never loads Electron itself. */
export type BrowserWindowClass = new (options: BrowserWindowConstructorOptions) => BrowserWindow;

/** Creates the main window (hidden until its first paint is ready). */
export function createMainWindow(BrowserWindowCtor: BrowserWindowClass, preloadPath: string): BrowserWindow {
  const window = new BrowserWindowCtor(mainWindowOptions(preloadPath));
  window.once('ready-to-show', () => window.show());
  return window;
}
