/**
 * One writer per data folder: the lock the desktop app and `npm run serve` take before touching
 * settings and conversations. Other processes hold it here, as they would in real use, so "which
 * process" and "is it still running" are real answers.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireDataLock, DataLockError, LOCK_FILE } from '../../electron/services/data-lock.js';
import { liveChildren, startCli } from '../fixtures/http-client.js';

const LOCK_MODULE = fileURLToPath(new URL('../../electron/services/data-lock.ts', import.meta.url));
const slow = { timeout: 60_000 };
const work = mkdtempSync(join(tmpdir(), 'spillway-lock-'));
const children = new Set<ChildProcess>();
let folders = 0;

const folder = (): string => join(work, `data-${++folders}`);

/** Another process that takes the lock and keeps it until it is killed (or exits at once with `exit`). */
async function holder(dataDir: string, then: 'stay' | 'exit' = 'stay'): Promise<ChildProcess> {
  const script = `import { acquireDataLock } from ${JSON.stringify(LOCK_MODULE)};
acquireDataLock(${JSON.stringify(dataDir)}, 'headless');
console.log('locked');
${then === 'stay' ? 'setInterval(() => {}, 1000);' : ''}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (then === 'stay' && output.includes('locked')) resolve();
    });
    child.once('exit', (code) => (then === 'exit' && code === 0 && output.includes('locked') ? resolve() : reject(new Error(`holder exited with ${code}: ${output}`))));
  });
  return child;
}

const exited = (child: ChildProcess): Promise<unknown> => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)));

afterEach(() => {
  for (const child of [...children, ...liveChildren]) child.kill('SIGKILL');
  children.clear();
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('data folder lock', () => {
  it('refuses a second process, naming the one that holds the folder', slow, async () => {
    const dataDir = folder();
    const other = await holder(dataDir);
    assert.throws(
      () => acquireDataLock(dataDir, 'desktop'),
      (error: unknown) => {
        assert.ok(error instanceof DataLockError, String(error));
        assert.equal(error.owner?.pid, other.pid);
        assert.match(error.message, new RegExp(`in use by process ${other.pid}, Spillway in headless mode \\(npm run serve\\)`));
        assert.match(error.message, /--data-dir or SPILLWAY_DATA_DIR/);
        return true;
      },
    );
  });

  it('takes over from a process that died without giving it back (kill -9)', slow, async () => {
    const dataDir = folder();
    const other = await holder(dataDir);
    other.kill('SIGKILL');
    await exited(other);
    const lock = acquireDataLock(dataDir, 'desktop');
    const owner = JSON.parse(readFileSync(lock.path, 'utf8')) as { pid: number; mode: string };
    assert.deepEqual([owner.pid, owner.mode], [process.pid, 'desktop']);
    lock.release();
    assert.equal(existsSync(lock.path), false);
  });

  it('is given back when its process exits normally', slow, async () => {
    const dataDir = folder();
    await holder(dataDir, 'exit');
    assert.equal(existsSync(join(dataDir, LOCK_FILE)), false);
  });

  it('takes over an unreadable lock file, but not one held on another machine', () => {
    const dataDir = folder();
    acquireDataLock(dataDir, 'headless').release();
    writeFileSync(join(dataDir, LOCK_FILE), 'not json');
    acquireDataLock(dataDir, 'headless').release();
    writeFileSync(join(dataDir, LOCK_FILE), JSON.stringify({ pid: 4242, mode: 'desktop', host: 'other-machine', since: '2026-01-01T00:00:00.000Z' }));
    assert.throws(() => acquireDataLock(dataDir, 'headless'), /in use by process 4242 on other-machine, the Spillway desktop app/);
  });

  it('keeps a second `serve` off the same folder with a one-line reason and exit 1', slow, async () => {
    const dataDir = folder();
    const first = startCli(['--port', '0', '--strategy', 'cloud-only', '--data-dir', dataDir]);
    await first.waitFor(/listening on/);
    const second = startCli(['--port', '0', '--strategy', 'cloud-only', '--data-dir', dataDir]);
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), new RegExp(`^spillway serve: the data folder .* is in use by process ${first.child.pid}, Spillway in headless mode`));
    assert.equal(second.stderr().trim().split('\n').length, 1, second.stderr());
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.equal(existsSync(join(dataDir, LOCK_FILE)), false, 'given back on a clean stop');
  });
});
