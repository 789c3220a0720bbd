/** Where the app keeps its data and finds its own files (package root, built UI, catalog). */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The per-user data directory, following each platform's convention. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'Spillway');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Spillway');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'spillway');
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
