/** Where the app keeps its data and finds its own files (package root, built UI, catalog). */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Points desktop and headless mode at another data folder (portable setups, tests). */
export const DATA_DIR_ENV = 'SPILLWAY_DATA_DIR';

/** Who is asking, so the folders can be decided for any platform in a test. */
export interface Host {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
}

const thisHost = (): Host => ({ env: process.env, platform: process.platform, home: homedir() });

/** The platform's folder for per-user application data. */
function platformDataDir({ env, platform, home }: Host): string {
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'Spillway');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Spillway');
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'spillway');
}

/** Where the desktop app kept its data before desktop and headless mode shared one folder (Linux only). */
function earlierDataDirs({ env, platform, home }: Host): string[] {
  return platform === 'win32' || platform === 'darwin' ? [] : [join(env.XDG_CONFIG_HOME || join(home, '.config'), 'Spillway')];
}

/**
 * The one data folder of both the desktop app and headless mode (settings, conversations, keys, the
 * lock): SPILLWAY_DATA_DIR when set, else the platform's per-user data folder (%APPDATA%,
 * ~/Library/Application Support, $XDG_DATA_HOME). Until that folder exists, data the desktop app wrote
 * to its earlier Linux folder (~/.config/Spillway) stays in use, so nothing is lost.
 */
export function defaultDataDir(host: Host = thisHost()): string {
  const override = host.env[DATA_DIR_ENV]?.trim();
  if (override) return resolve(override);
  const preferred = platformDataDir(host);
  if (existsSync(preferred)) return preferred;
  return earlierDataDirs(host).find((dir) => existsSync(join(dir, 'settings.json'))) ?? preferred;
}

/**
 * The default models folder, used when the Models folder setting is empty. Models are large and easy to
 * download again, so they go to a local folder that is not roamed or synced (%LOCALAPPDATA% on Windows,
 * where the data folder roams). A models folder that already holds files beside the data folder stays
 * in use, so nothing is downloaded again; a data folder chosen by hand keeps its models beside it.
 */
export function defaultModelsDir(dataDir: string, host: Host = thisHost()): string {
  const beside = join(dataDir, 'models');
  if (existsSync(beside) && readdirSync(beside).length > 0) return beside;
  const standard = dataDir === platformDataDir(host) || earlierDataDirs(host).includes(dataDir);
  if (!standard) return beside;
  const { env, platform, home } = host;
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'Spillway', 'models');
  return join(platformDataDir(host), 'models');
}

/**
 * The folder holding package.json. Walking up works for both the compiled file (dist/electron/server)
 * and the source run through tsx (electron/server), which sit at different depths.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`Cannot find package.json above ${from}.`);
    dir = parent;
  }
}

/** Where the built browser UI lives. */
export function defaultStaticDir(): string {
  return join(packageRoot(), 'dist', 'renderer');
}
