/**
 * Window and session hardening. Each rule sits next to the Electron security checklist item it implements
 * (https://www.electronjs.org/docs/latest/tutorial/security). Electron objects come in as parameters so the
 * rules can be tested without the Electron binary.
 *
 * Re-checked against Electron 45 and its breaking changes since 39: every rule below still applies as
 * written (same events, same handler signatures, permissions still granted by default without a handler).
 * Checklist item 18 (serve the page from a custom protocol rather than file://) is not followed yet: the
 * window loads file://, which is why the grantFileProtocolExtraPrivileges fuse stays on.
 */
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Event, Session, WebContents, WebContentsWillFrameNavigateEventParams, WebContentsWillNavigateEventParams } from 'electron';

export type UrlCheck = (url: string) => boolean;

/** Matches the app's own page: the renderer's index.html as a file:// URL, whatever its hash or query. */
export function appPageMatcher(indexHtmlPath: string): UrlCheck {
  const expected = resolve(indexHtmlPath);
  return (url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    if (parsed.protocol !== 'file:') return false;
    parsed.hash = '';
    parsed.search = '';
    let path: string;
    try {
      // Throws for file URLs naming another host (file://server/share), which are never ours.
      path = fileURLToPath(parsed);
    } catch {
      return false;
    }
    // path.relative is case-insensitive on Windows and normalises separators, unlike string equality.
    return relative(expected, resolve(path)) === '';
  };
}

const MAX_EXTERNAL_URL_LENGTH = 4096;

/**
 * The URL to hand to the OS browser, or null. Only http(s) ever leaves the app: file:, javascript:,
 * smb:, custom app schemes and the like can run programs or leak credentials when the OS opens them.
 */
export function externalUrl(raw: string): string | null {
  if (typeof raw !== 'string' || raw.length > MAX_EXTERNAL_URL_LENGTH) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  // `https://bank.example@evil.example` reads as one host and opens another.
  if (url.username || url.password) return null;
  if (!url.hostname) return null;
  return url.href;
}

export interface HardenOptions {
  /** Whether a URL is the app's own page (the only thing the window may show). */
  isAppPage: UrlCheck;
  /** shell.openExternal in the app; a recorder in tests. */
  openExternal: (url: string) => Promise<void>;
  log?: (message: string) => void;
}

/** Applies the navigation, new-window and webview rules to one webContents. */
export function hardenWebContents(contents: WebContents, options: HardenOptions): void {
  const log = options.log ?? ((message: string) => console.warn(message));
  const openOutside = (url: string): void => {
    const safe = externalUrl(url);
    if (!safe) {
      log(`Spillway: refused to open a link with scheme ${schemeOf(url)}.`);
      return;
    }
    options.openExternal(safe).catch((error: unknown) => log(`Spillway: the link could not be opened: ${String(error)}`));
  };

  // https://www.electronjs.org/docs/latest/tutorial/security#13-disable-or-limit-navigation
  // The window only ever shows the app's page. A clicked link in an answer (model output is untrusted)
  // opens in the user's browser instead, if it is plain http(s).
  contents.on('will-navigate', (event: Event<WebContentsWillNavigateEventParams>) => {
    if (options.isAppPage(event.url)) return;
    event.preventDefault();
    openOutside(event.url);
  });

  // Same item, for frames: the page has no frames (its CSP says frame-src 'none'), so none may navigate.
  contents.on('will-frame-navigate', (event: Event<WebContentsWillFrameNavigateEventParams>) => {
    if (event.isMainFrame) return; // will-navigate decides for the main frame.
    event.preventDefault();
  });

  // https://www.electronjs.org/docs/latest/tutorial/security#14-disable-or-limit-creation-of-new-windows
  // https://www.electronjs.org/docs/latest/tutorial/security#15-do-not-use-shellopenexternal-with-untrusted-content
  // No new windows, ever; a target=_blank link goes to the browser after the scheme check above.
  contents.setWindowOpenHandler(({ url }) => {
    openOutside(url);
    return { action: 'deny' };
  });

  // https://www.electronjs.org/docs/latest/tutorial/security#12-verify-webview-options-before-creation
  // The app uses no <webview>; webviewTag is off too, this is the second lock.
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
}

/** Denies every permission request and check, and every device, in one session; the app's page may write the clipboard. */
export function hardenSession(session: Session, isAppPage: UrlCheck): void {
  // https://www.electronjs.org/docs/latest/tutorial/security#5-handle-session-permission-requests-from-remote-content
  // Electron grants every permission by default. A chat app needs no camera, microphone, location,
  // notifications, MIDI, HID or clipboard reads, and model output must never be able to ask for them.
  // Its Copy buttons write text to the clipboard: that one permission, for the app's own page only.
  const allowed = (permission: string, url: string): boolean => permission === 'clipboard-sanitized-write' && isAppPage(url);
  session.setPermissionRequestHandler((contents, permission, callback, details) => callback(allowed(permission, details.requestingUrl ?? contents.getURL())));
  session.setPermissionCheckHandler((contents, permission, _origin, details) => allowed(permission, details.requestingUrl ?? contents?.getURL() ?? ''));
  session.setDevicePermissionHandler(() => false);
}

function schemeOf(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '(unparseable)';
  }
}
