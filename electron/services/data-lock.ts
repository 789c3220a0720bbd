/**
 * One process at a time writes a data folder. The desktop app and `npm run serve` share one folder, and
 * two writers would overwrite each other's settings and conversations, so each takes this lock first: a
 * file naming its process. A second process is refused with the holder's pid; a lock left by a process
 * that died (a crash, a kill -9) is taken over.
 *
 * Hand-written rather than proper-lockfile: that library cannot say which process holds a lock, and it
 * detects stale locks by timestamps refreshed on a timer, where a pid check is exact on one machine.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'spillway.lock';

/** Who holds the lock (the lock file's content). */
export interface LockOwner {
  pid: number;
  mode: 'desktop' | 'headless';
  host: string;
  since: string;
}

/** The folder is in use: the message says by whom and what to do. */
export class DataLockError extends Error {
  override name = 'DataLockError';
  constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    /** Null while the other process is still writing its lock file. */
    readonly owner: LockOwner | null,
  ) {
    super(`the data folder ${dataDir} is in use by ${describe(owner)}. Quit that one first, or give this one its own folder (--data-dir or SPILLWAY_DATA_DIR).${owner ? ` If process ${owner.pid} is not Spillway, delete ${lockPath}.` : ''}`);
  }
}

function describe(owner: LockOwner | null): string {
  if (!owner) return 'another Spillway process that is just starting';
  const who = owner.mode === 'desktop' ? 'the Spillway desktop app' : 'Spillway in headless mode (npm run serve)';
  const where = owner.host === hostname() ? '' : ` on ${owner.host}`;
  return `process ${owner.pid}${where}, ${who}, running since ${owner.since}`;
}

export interface DataLock {
  readonly path: string;
  /** Gives the folder up (also done when the process exits). */
  release(): void;
}

/** Whether a process with this pid exists on this machine. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return null;
    return { pid: owner.pid, mode: owner.mode === 'desktop' ? 'desktop' : 'headless', host: owner.host, since: String(owner.since ?? 'an unknown time') };
  } catch {
    return null;
  }
}

/** Whether a lock file can be taken over: its process is gone, or it cannot even be read. */
function isStale(owner: LockOwner | null): boolean {
  if (!owner) return true;
  // Another machine's process (a shared home folder) cannot be checked from here: assume it runs.
  if (owner.host !== hostname()) return false;
  return owner.pid === process.pid || !isRunning(owner.pid);
}

/** Takes the data folder's lock for this process, or throws DataLockError naming the holder. */
export function acquireDataLock(dataDir: string, mode: LockOwner['mode']): DataLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const owner: LockOwner = { pid: process.pid, mode, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readOwner(path);
      if (attempt > 0 || !isStale(holder)) {
        throw new DataLockError(dataDir, path, holder);
      }
      try {
        unlinkSync(path);
      } catch {
        // Someone else removed it first; the next attempt sees who holds it now.
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(owner)}\n`);
    } finally {
      closeSync(fd);
    }
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      process.off('exit', release);
      // Only our own lock: never one another process took over after us.
      if (readOwner(path)?.pid !== process.pid) return;
      try {
        unlinkSync(path);
      } catch {
        // Already gone (the folder was deleted): nothing to give up.
      }
    };
    process.on('exit', release);
    return { path, release };
  }
}
