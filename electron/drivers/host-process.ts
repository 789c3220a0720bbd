/**
 * How the local driver starts the inference host. Headless mode and tests fork a Node child process;
 * the desktop app passes a launcher built on Electron's utilityProcess (see electron/main).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostMessage, HostRequest } from '../inference/protocol.js';

/** A running host process, whatever started it. */
export interface HostHandle {
  /** The process id, where the platform gives one. */
  readonly pid: number | undefined;
  send(request: HostRequest): void;
  onMessage(listener: (message: HostMessage) => void): void;
  /** Called once when the process ends, for whatever reason, with the last lines it printed. */
  onExit(listener: (exit: HostExit) => void): void;
  kill(): void;
}

export interface HostExit {
  code: number | null;
  signal: string | null;
  /** The tail of the process's stderr: llama.cpp prints the failed assertion there before aborting. */
  output: string;
}

export type HostLauncher = () => HostHandle;

/** Path of the host entry, next to this file's compiled or source form. */
export function hostEntryPath(): string {
  const here = import.meta.url;
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`../inference/host${ext}`, here));
}

/** Starts the host as a Node child process with an IPC channel. */
export function forkHostLauncher(entry = hostEntryPath()): HostLauncher {
  return () => {
    // Inherit execArgv so a TypeScript loader used by tests and `npm run serve` applies to the child too.
    const child = fork(entry, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
    });
    return {
      pid: child.pid,
      send: (request) => {
        if (child.connected) child.send(request);
      },
      onMessage: (listener) => child.on('message', (message) => listener(message as HostMessage)),
      onExit: (listener) => child.once('exit', (code, signal) => listener({ code, signal, output: stderrTail.trim() })),
      kill: () => {
        child.kill('SIGKILL');
      },
    };
  };
}
