/** Where the desktop app keeps what is not the user's data. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DATA_DIR_ENV, type Host } from '../services/paths.js';

/**
 * Chromium's session data (HTTP and code caches, GPU cache, network state): cache, not user data, so it
 * goes to the platform's cache folder, which backups and roaming profiles skip. With SPILLWAY_DATA_DIR
 * everything stays inside that folder instead (portable setups, tests).
 */
export function sessionDataDir(dataDir: string, host: Host = { env: process.env, platform: process.platform, home: homedir() }): string {
  const { env, platform, home } = host;
  if (env[DATA_DIR_ENV]?.trim()) return join(dataDir, 'session');
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'Spillway', 'Cache');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'Spillway');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'spillway');
}
