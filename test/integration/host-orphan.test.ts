/**
 * The inference host outlives no parent. As an Electron utilityProcess it has no IPC channel whose
 * closing would tell it main is gone, so it watches main's pid. Here the host runs the same way, with
 * no IPC channel, under a parent process that is then killed with SIGKILL, as a crashed main would be.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isRunning, until } from '../fixtures/processes.js';

const HOST = fileURLToPath(new URL('../../electron/inference/host.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const spawned: number[] = [];

/** A parent that starts the host without an IPC channel, passing its own pid, and prints the host's pid. */
async function parentWithHost(): Promise<{ parent: ChildProcess; hostPid: number }> {
  const script = `const { spawn } = require('node:child_process');
const host = spawn(process.execPath, ['--import', 'tsx', ${JSON.stringify(HOST)}, '--parent-pid', String(process.pid)], { stdio: ['ignore', 'ignore', 'inherit'] });
console.log(host.pid);
setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const hostPid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    parent.once('exit', (code) => reject(new Error(`parent exited with ${code}`)));
  });
  spawned.push(parent.pid!, hostPid);
  return { parent, hostPid };
}

after(() => {
  for (const pid of spawned) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
});

describe('inference host without a parent', () => {
  it('keeps running while its parent lives, and exits within seconds of a kill -9 of the parent', { timeout: 60_000 }, async () => {
    const { parent, hostPid } = await parentWithHost();
    // Long enough for the host to load and pass several parent checks.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.ok(isRunning(hostPid), 'the host runs while its parent does');

    parent.kill('SIGKILL');
    assert.ok(await until(() => !isRunning(hostPid), 10_000), `host ${hostPid} still running 10 s after its parent was killed`);
  });
});
