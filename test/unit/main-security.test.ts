import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { BrowserWindow, BrowserWindowConstructorOptions, HandlerDetails, Session, WebContents, WindowOpenHandlerResponse } from 'electron';
import { appPageMatcher, externalUrl, hardenSession, hardenWebContents } from '../../electron/main/security.js';
import { createMainWindow, mainWindowOptions } from '../../electron/main/window.js';

const rendererIndex = join(tmpdir(), 'spillway-app', 'dist', 'renderer', 'index.html');
const APP_URL = pathToFileURL(rendererIndex).href;

class FakeEvent {
  defaultPrevented = false;
  constructor(params: Record<string, unknown> = {}) {
    Object.assign(this, params);
  }
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

type AnyListener = (...args: unknown[]) => void;

class FakeContents {
  readonly listeners = new Map<string, AnyListener[]>();
  windowOpenHandler: ((details: HandlerDetails) => WindowOpenHandlerResponse) | null = null;
  on(event: string, listener: AnyListener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  setWindowOpenHandler(handler: (details: HandlerDetails) => WindowOpenHandlerResponse): void {
    this.windowOpenHandler = handler;
  }
  fire(event: string, ...args: unknown[]): void {
    const listeners = this.listeners.get(event);
    assert.ok(listeners?.length, `no ${event} listener`);
    for (const listener of listeners) listener(...args);
  }
}

function hardened(): { contents: FakeContents; opened: string[]; logs: string[] } {
  const contents = new FakeContents();
  const opened: string[] = [];
  const logs: string[] = [];
  hardenWebContents(contents as unknown as WebContents, {
    isAppPage: appPageMatcher(rendererIndex),
    openExternal: async (url) => {
      opened.push(url);
    },
    log: (message) => logs.push(message),
  });
  return { contents, opened, logs };
}

function navigate(contents: FakeContents, url: string): FakeEvent {
  const event = new FakeEvent({ url, isMainFrame: true, isSameDocument: false });
  contents.fire('will-navigate', event, url);
  return event;
}

function openWindow(contents: FakeContents, url: string): WindowOpenHandlerResponse {
  assert.ok(contents.windowOpenHandler, 'no window open handler');
  return contents.windowOpenHandler({ url, frameName: '', features: '', disposition: 'foreground-tab', referrer: { url: APP_URL, policy: 'default' } } as HandlerDetails);
}

const UNSAFE_LINKS = [
  'javascript:alert(document.cookie)',
  'file:///etc/passwd',
  pathToFileURL(join(tmpdir(), 'evil.html')).href,
  'smb://attacker.example/share',
  'data:text/html,<script>alert(1)</script>',
  'vscode://file/etc/passwd',
  'ms-msdt:/id PCWDiagnostic',
  'https://bank.example@evil.example/',
  'not a url',
  `https://example.com/${'a'.repeat(5000)}`,
];

describe('window options', () => {
  const preload = join(tmpdir(), 'spillway-app', 'dist', 'electron', 'preload', 'index.cjs');
  const options = mainWindowOptions(preload);
  const web = options.webPreferences!;

  it('match the hardening baseline', () => {
    assert.equal(web.contextIsolation, true);
    assert.equal(web.sandbox, true);
    assert.equal(web.nodeIntegration, false);
    assert.equal(web.nodeIntegrationInWorker, false);
    assert.equal(web.nodeIntegrationInSubFrames, false);
    assert.notEqual(web.webSecurity, false);
    assert.notEqual(web.allowRunningInsecureContent, true);
    assert.notEqual(web.experimentalFeatures, true);
    assert.equal(web.enableBlinkFeatures, undefined);
    assert.notEqual(web.webviewTag, true);
    assert.equal(web.navigateOnDragDrop, false);
  });

  it('load the bundled CommonJS preload', () => {
    assert.ok(web.preload?.endsWith('index.cjs'), web.preload);
    assert.equal(web.preload, preload);
  });

  it('create a window that shows itself once ready', () => {
    const created: FakeBrowserWindow[] = [];
    class FakeBrowserWindow {
      readonly listeners = new Map<string, () => void>();
      shown = false;
      constructor(readonly options: BrowserWindowConstructorOptions) {
        created.push(this);
      }
      once(event: string, listener: () => void): this {
        this.listeners.set(event, listener);
        return this;
      }
      show(): void {
        this.shown = true;
      }
    }
    createMainWindow(FakeBrowserWindow as unknown as new (options: BrowserWindowConstructorOptions) => BrowserWindow, preload);
    assert.equal(created.length, 1);
    const window = created[0]!;
    assert.deepEqual(window.options, options);
    assert.equal(window.options.show, false);
    assert.equal(window.shown, false);
    window.listeners.get('ready-to-show')!();
    assert.equal(window.shown, true);
  });
});

describe('navigation', () => {
  it('lets the app page reload or change its hash', () => {
    const { contents, opened } = hardened();
    for (const url of [APP_URL, `${APP_URL}#/settings`, `${APP_URL}?tab=metrics`]) assert.equal(navigate(contents, url).defaultPrevented, false, url);
    assert.deepEqual(opened, []);
  });

  it('denies navigating anywhere else, and sends plain https links to the browser instead', () => {
    const { contents, opened } = hardened();
    assert.equal(navigate(contents, 'https://example.com/docs?q=1').defaultPrevented, true);
    assert.deepEqual(opened, ['https://example.com/docs?q=1']);
  });

  it('denies navigating to other schemes and files without opening anything', () => {
    const { contents, opened } = hardened();
    for (const url of UNSAFE_LINKS) assert.equal(navigate(contents, url).defaultPrevented, true, url);
    assert.equal(navigate(contents, pathToFileURL(join(tmpdir(), 'spillway-app', 'dist', 'renderer', 'other.html')).href).defaultPrevented, true);
    assert.deepEqual(opened, []);
  });

  it('denies every subframe navigation and leaves the main frame to will-navigate', () => {
    const { contents } = hardened();
    const sub = new FakeEvent({ url: APP_URL, isMainFrame: false });
    contents.fire('will-frame-navigate', sub);
    assert.equal(sub.defaultPrevented, true);
    const main = new FakeEvent({ url: APP_URL, isMainFrame: true });
    contents.fire('will-frame-navigate', main);
    assert.equal(main.defaultPrevented, false);
  });

  it('refuses to attach a <webview>', () => {
    const { contents } = hardened();
    const event = new FakeEvent();
    contents.fire('will-attach-webview', event, { nodeIntegration: true }, { src: 'https://example.com' });
    assert.equal(event.defaultPrevented, true);
  });
});

describe('new windows', () => {
  it('are always denied; http(s) links open in the browser', () => {
    const { contents, opened } = hardened();
    assert.deepEqual(openWindow(contents, 'https://example.com/a'), { action: 'deny' });
    assert.deepEqual(openWindow(contents, 'http://localhost:8080/'), { action: 'deny' });
    assert.deepEqual(opened, ['https://example.com/a', 'http://localhost:8080/']);
  });

  it('never hand javascript:, file: or other schemes to the OS', () => {
    const { contents, opened, logs } = hardened();
    for (const url of UNSAFE_LINKS) assert.deepEqual(openWindow(contents, url), { action: 'deny' }, url);
    assert.deepEqual(opened, []);
    assert.equal(logs.length, UNSAFE_LINKS.length);
  });

  it('do not even open the app page itself in a second window', () => {
    const { contents, opened } = hardened();
    assert.deepEqual(openWindow(contents, APP_URL), { action: 'deny' });
    assert.deepEqual(opened, []);
  });
});

describe('externalUrl', () => {
  it('normalises safe links and rejects the rest', () => {
    assert.equal(externalUrl('HTTPS://Example.COM/a b'), 'https://example.com/a%20b');
    for (const url of UNSAFE_LINKS) assert.equal(externalUrl(url), null, url);
  });
});

describe('app page matcher', () => {
  const isAppPage = appPageMatcher(rendererIndex);
  it('matches only the renderer’s index.html', () => {
    assert.equal(isAppPage(APP_URL), true);
    assert.equal(isAppPage(`${APP_URL}#x`), true);
    assert.equal(isAppPage(APP_URL.replace('index.html', '../renderer/index.html')), true);
    assert.equal(isAppPage(APP_URL.replace('index.html', 'index.html.evil')), false);
    assert.equal(isAppPage(APP_URL.replace('file:///', 'file://attacker/')), false);
    assert.equal(isAppPage('https://spillway.example/index.html'), false);
    assert.equal(isAppPage(''), false);
  });
});

describe('session permissions', () => {
  const handlers: Record<string, (...args: never[]) => unknown> = {};
  const session = {
    setPermissionRequestHandler: (handler: (...args: never[]) => unknown) => (handlers.request = handler),
    setPermissionCheckHandler: (handler: (...args: never[]) => unknown) => (handlers.check = handler),
    setDevicePermissionHandler: (handler: (...args: never[]) => unknown) => (handlers.device = handler),
  };
  hardenSession(session as unknown as Session, appPageMatcher(rendererIndex));
  const request = handlers.request as unknown as (contents: unknown, permission: string, callback: (granted: boolean) => void, details: unknown) => void;
  const check = handlers.check as unknown as (contents: unknown, permission: string, origin: string, details: unknown) => boolean;
  const requested = (permission: string, requestingUrl: string): boolean[] => {
    const answers: boolean[] = [];
    request({ getURL: () => requestingUrl }, permission, (granted) => answers.push(granted), { requestingUrl });
    return answers;
  };

  it('deny every request, check and device', () => {
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fileSystem', 'display-capture']) {
      assert.deepEqual(requested(permission, APP_URL), [false], permission);
    }
    for (const permission of ['media', 'hid', 'usb', 'serial', 'clipboard-read']) assert.equal(check(null, permission, 'file://', { requestingUrl: APP_URL }), false, permission);
    const device = handlers.device as unknown as (details: unknown) => boolean;
    assert.equal(device({ deviceType: 'usb', origin: 'file://' }), false);
  });

  it('but the app page may write the clipboard (Copy), and no other page may', () => {
    assert.deepEqual(requested('clipboard-sanitized-write', APP_URL), [true]);
    assert.equal(check(null, 'clipboard-sanitized-write', 'file://', { requestingUrl: APP_URL }), true);
    assert.deepEqual(requested('clipboard-sanitized-write', 'https://spillway.example/index.html'), [false]);
    assert.equal(check(null, 'clipboard-sanitized-write', 'https://spillway.example', { requestingUrl: 'https://spillway.example/' }), false);
  });
});
