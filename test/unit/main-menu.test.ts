/** The application menu: nothing a packaged app's user should not have, everything they need. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MenuItemConstructorOptions } from 'electron';
import { appMenuTemplate } from '../../electron/main/menu.js';

/** Every role in a menu template, submenus included. */
function roles(items: MenuItemConstructorOptions[]): string[] {
  return items.flatMap((item) => [...(item.role ? [item.role.toLowerCase()] : []), ...(Array.isArray(item.submenu) ? roles(item.submenu) : [])]);
}

const platforms: NodeJS.Platform[] = ['darwin', 'win32', 'linux'];

describe('application menu', () => {
  it('has no Reload, Force Reload or DevTools in a packaged app, on any platform', () => {
    for (const platform of platforms) {
      const found = roles(appMenuTemplate(platform, { packaged: true }));
      for (const role of ['reload', 'forcereload', 'toggledevtools', 'viewmenu']) assert.ok(!found.includes(role), `${platform}: ${found.join(', ')}`);
    }
  });

  it('keeps editing, zoom, full screen, the window commands and quit', () => {
    for (const platform of platforms) {
      const found = roles(appMenuTemplate(platform, { packaged: true }));
      for (const role of ['editmenu', 'resetzoom', 'zoomin', 'zoomout', 'togglefullscreen', 'windowmenu']) assert.ok(found.includes(role), `${platform} lacks ${role}`);
      // On macOS the app menu (About, Hide, Quit) comes first; elsewhere Quit is under File.
      assert.ok(platform === 'darwin' ? found[0] === 'appmenu' : found.includes('quit'), `${platform}: ${found.join(', ')}`);
    }
  });

  it('offers DevTools when running from source, still without Reload', () => {
    const found = roles(appMenuTemplate('linux', { packaged: false }));
    assert.ok(found.includes('toggledevtools'), found.join(', '));
    assert.ok(!found.includes('reload') && !found.includes('forcereload'), found.join(', '));
  });
});
