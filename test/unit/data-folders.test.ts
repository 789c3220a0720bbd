/**
 * Where Spillway keeps things, decided once for the desktop app and headless mode: the data folder, the
 * default models folder (local, never roaming; models already on disk stay where they are), and
 * Chromium's session data (a cache folder). Every platform is checked here on a made-up home folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { sessionDataDir } from '../../electron/main/folders.js';
import { defaultDataDir, defaultModelsDir, type Host } from '../../electron/services/paths.js';

const work = mkdtempSync(join(tmpdir(), 'spillway-folders-'));
after(() => rmSync(work, { recursive: true, force: true }));
let homes = 0;

function host(platform: NodeJS.Platform, env: NodeJS.ProcessEnv = {}): Host {
  const home = join(work, `home-${++homes}`);
  mkdirSync(home, { recursive: true });
  return { platform, home, env };
}

function touch(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
}

describe('data folder', () => {
  it('is the platform’s per-user data folder, the same for both modes', () => {
    const windows = host('win32');
    windows.env.APPDATA = join(windows.home, 'AppData', 'Roaming');
    assert.equal(defaultDataDir(windows), join(windows.home, 'AppData', 'Roaming', 'Spillway'));
    const mac = host('darwin');
    assert.equal(defaultDataDir(mac), join(mac.home, 'Library', 'Application Support', 'Spillway'));
    const linux = host('linux');
    assert.equal(defaultDataDir(linux), join(linux.home, '.local', 'share', 'spillway'));
    linux.env.XDG_DATA_HOME = join(linux.home, 'data');
    assert.equal(defaultDataDir(linux), join(linux.home, 'data', 'spillway'));
  });

  it('is SPILLWAY_DATA_DIR when set, made absolute', () => {
    assert.equal(defaultDataDir(host('linux', { SPILLWAY_DATA_DIR: 'relative/here' })), resolve('relative/here'));
  });

  it('on Linux, stays where the desktop app used to keep its data until the new folder exists', () => {
    const linux = host('linux');
    const earlier = join(linux.home, '.config', 'Spillway');
    touch(join(earlier, 'settings.json'));
    assert.equal(defaultDataDir(linux), earlier);
    mkdirSync(join(linux.home, '.local', 'share', 'spillway'), { recursive: true });
    assert.equal(defaultDataDir(linux), join(linux.home, '.local', 'share', 'spillway'));
  });
});

describe('models folder', () => {
  it('on Windows is under %LOCALAPPDATA%, which does not roam, while the data folder does', () => {
    const windows = host('win32');
    windows.env.APPDATA = join(windows.home, 'Roaming');
    windows.env.LOCALAPPDATA = join(windows.home, 'Local');
    assert.equal(defaultModelsDir(defaultDataDir(windows), windows), join(windows.home, 'Local', 'Spillway', 'models'));
  });

  it('stays beside the data folder where models already are, so none is downloaded again', () => {
    const windows = host('win32');
    windows.env.APPDATA = join(windows.home, 'Roaming');
    windows.env.LOCALAPPDATA = join(windows.home, 'Local');
    const dataDir = defaultDataDir(windows);
    mkdirSync(join(dataDir, 'models'), { recursive: true });
    assert.equal(defaultModelsDir(dataDir, windows), join(windows.home, 'Local', 'Spillway', 'models'), 'an empty folder left by an earlier run does not count');
    touch(join(dataDir, 'models', 'qwen.gguf'));
    assert.equal(defaultModelsDir(dataDir, windows), join(dataDir, 'models'));

    const linux = host('linux');
    const earlier = join(linux.home, '.config', 'Spillway');
    touch(join(earlier, 'settings.json'));
    touch(join(earlier, 'models', 'tiny.gguf.partial'));
    assert.equal(defaultModelsDir(defaultDataDir(linux), linux), join(earlier, 'models'), 'a download in progress counts too');
  });

  it('on macOS and Linux is the data folder’s models folder; never the earlier ~/.config one unless models are there', () => {
    const mac = host('darwin');
    assert.equal(defaultModelsDir(defaultDataDir(mac), mac), join(mac.home, 'Library', 'Application Support', 'Spillway', 'models'));
    const linux = host('linux');
    touch(join(linux.home, '.config', 'Spillway', 'settings.json'));
    assert.equal(defaultModelsDir(defaultDataDir(linux), linux), join(linux.home, '.local', 'share', 'spillway', 'models'), 'not ~/.config');
  });

  it('stays beside a data folder chosen by hand', () => {
    const custom = join(work, 'portable');
    assert.equal(defaultModelsDir(custom, host('win32', { LOCALAPPDATA: join(work, 'local') })), join(custom, 'models'));
  });
});

describe('Chromium session data', () => {
  it('goes to the platform’s cache folder, or inside a data folder chosen by hand', () => {
    const windows = host('win32');
    windows.env.LOCALAPPDATA = join(windows.home, 'Local');
    assert.equal(sessionDataDir('unused', windows), join(windows.home, 'Local', 'Spillway', 'Cache'));
    const mac = host('darwin');
    assert.equal(sessionDataDir('unused', mac), join(mac.home, 'Library', 'Caches', 'Spillway'));
    const linux = host('linux');
    assert.equal(sessionDataDir('unused', linux), join(linux.home, '.cache', 'spillway'));
    linux.env.XDG_CACHE_HOME = join(linux.home, 'cache');
    assert.equal(sessionDataDir('unused', linux), join(linux.home, 'cache', 'spillway'));
    assert.equal(sessionDataDir('/portable', host('linux', { SPILLWAY_DATA_DIR: '/portable' })), join('/portable', 'session'));
  });
});
