/**
 * Starts the inference host as an Electron utilityProcess: a Chromium-managed Node process, so a native
 * llama.cpp abort takes down only the host, and the OS task manager names it. The host itself already
 * speaks over process.parentPort (see electron/inference/host.ts).
 */
import type { ForkOptions, UtilityProcess } from 'electron';
import { hostEntryPath, type HostExit, type HostLauncher } from '../drivers/host-process.js';
import type { HostMessage, HostRequest } from '../inference/protocol.js';

/** utilityProcess.fork, passed in so this file never loads Electron itself. */
export type UtilityFork = (modulePath: string, args?: string[], options?: ForkOptions) => UtilityProcess;

const STDERR_TAIL_CHARS = 4000;
/** How long to wait, after the exit, for the last stderr chunk (the assertion) to arrive. */
const STDERR_DRAIN_MS = 250;

/** A HostLauncher built on utilityProcess.fork. */
export function utilityHostLauncher(fork: UtilityFork, entry = hostEntryPath()): HostLauncher {
  return () => {
    // stderr is piped because llama.cpp prints the failed assertion there right before it aborts.
    // The host watches this pid: a utilityProcess gets no 'disconnect' when main dies (see host.ts).
    const child = fork(entry, ['--parent-pid', String(process.pid)], { serviceName: 'Spillway inference', stdio: ['ignore', 'ignore', 'pipe'] });
    let exited = false;
    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string | Buffer) => {
      stderrTail = (stderrTail + String(chunk)).slice(-STDERR_TAIL_CHARS);
    });
    const stderrDone = new Promise<void>((resolve) => {
      if (!child.stderr) return resolve();
      child.stderr.once('end', () => resolve());
      child.stderr.once('close', () => resolve());
    });
    child.once('exit', () => {
      exited = true;
    });
    return {
      get pid() {
        return child.pid;
      },
      send: (request: HostRequest) => {
        // Posting to a dead process throws; the driver learns of the death from onExit instead.
        if (!exited) child.postMessage(request);
      },
      onMessage: (listener) => {
        child.on('message', (message: unknown) => listener(message as HostMessage));
      },
      onExit: (listener) => {
        // utilityProcess reports only an exit code; a signal death shows up as a non-zero code.
        child.once('exit', (code: number) => {
          // The exit can overtake the last stderr chunk, which is the one that says why.
          const drained = Promise.race([stderrDone, new Promise<void>((resolve) => setTimeout(resolve, STDERR_DRAIN_MS).unref())]);
          void drained.then(() => listener({ code, signal: null, output: stderrTail.trim() } satisfies HostExit));
        });
      },
      kill: () => {
        if (!exited) child.kill();
      },
    };
  };
}
