/**
 * The application menu. Electron's default menu is a developer's: Reload (which would drop the page's
 * state mid-answer) and DevTools (a console into a window that renders untrusted model output). This one
 * keeps what a user needs: the edit commands (on macOS, copy and paste only work through the menu), zoom,
 * full screen, the window commands and quit. DevTools stay reachable when running from source.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuOptions {
  /** app.isPackaged: an installed app, rather than `npm start`. */
  packaged: boolean;
}

/** The menu template for a platform (built with Menu.buildFromTemplate). */
export function appMenuTemplate(platform: NodeJS.Platform, { packaged }: MenuOptions): MenuItemConstructorOptions[] {
  const view: MenuItemConstructorOptions = {
    label: 'View',
    submenu: [
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
      ...(packaged ? [] : [{ type: 'separator' as const }, { role: 'toggleDevTools' as const }]),
    ],
  };
  if (platform === 'darwin') {
    // appMenu: About, Services, Hide, Quit under the app's name.
    return [{ role: 'appMenu' }, { role: 'editMenu' }, view, { role: 'windowMenu' }];
  }
  return [{ label: 'File', submenu: [{ role: 'quit' }] }, { role: 'editMenu' }, view, { role: 'windowMenu' }];
}
