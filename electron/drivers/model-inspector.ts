/**
 * Describes GGUF files for the model manager in a process of its own, never on the engine's host: a file
 * being added is untrusted, and whatever reading it costs must not stall the answers in progress. The
 * bounded checks (gguf-precheck.ts) run here first, so a hostile header never starts a process; then one
 * short-lived host reads the file under a deadline, is killed when the deadline passes, and exits once no
 * inspection has come for a moment.
 */
import { formatDuration } from '../core/deadlines.js';
import { DriverError } from '../core/errors.js';
import { precheckGguf } from '../inference/gguf-precheck.js';
import type { EngineOptions, ModelInspection } from '../inference/protocol.js';
import { HostChannel } from './host-channel.js';
import { forkHostLauncher, type HostLauncher } from './host-process.js';

/** Starting a host and reading a large header can take a while on a slow disk; more is a stuck read. */
export const DEFAULT_INSPECT_DEADLINE_MS = 30_000;
/** The process stays this long after its last inspection, for a folder's worth of files. */
const IDLE_EXIT_MS = 2_000;

export interface ModelInspectorOptions {
  launcher?: HostLauncher;
  /** Longest one inspection may take, process start included. */
  deadlineMs?: number;
  gpu?: EngineOptions['gpu'];
}

export class ModelInspector {
  private readonly channel: HostChannel;
  private queue: Promise<unknown> = Promise.resolve();
  private idle: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: ModelInspectorOptions = {}) {
    this.channel = new HostChannel({ launcher: options.launcher ?? forkHostLauncher(), graceMs: 1000, onStopped: () => {} });
  }

  /** True while the inspection process runs (tests check it is short-lived). */
  running(): boolean {
    return this.channel.running();
  }

  /** Describes `path` and its fit at `contextSize`; one inspection at a time. */
  inspect(path: string, contextSize?: number): Promise<ModelInspection> {
    const run = this.queue.then(() => this.inspectNow(path, contextSize));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Stops the process if it runs. */
  dispose(): void {
    if (this.idle) clearTimeout(this.idle);
    if (this.channel.running()) this.channel.kill(new DriverError('aborted', 'The model inspector was stopped.'));
  }

  private async inspectNow(path: string, contextSize: number | undefined): Promise<ModelInspection> {
    await precheckGguf(path);
    if (this.idle) clearTimeout(this.idle);
    const deadlineMs = this.options.deadlineMs ?? DEFAULT_INSPECT_DEADLINE_MS;
    const call = this.channel.call('inspect', {
      path,
      ...(contextSize === undefined ? {} : { contextSize }),
      ...(this.options.gpu === undefined ? {} : { gpu: this.options.gpu }),
    });
    let timer: ReturnType<typeof setTimeout> | null = null;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new DriverError('timeout', `Reading ${path} took longer than ${formatDuration(deadlineMs)}; it was stopped.`);
        this.channel.kill(error);
        reject(error);
      }, deadlineMs);
    });
    try {
      return await Promise.race([call.result, deadline]);
    } finally {
      if (timer) clearTimeout(timer);
      this.idle = setTimeout(() => this.dispose(), IDLE_EXIT_MS);
      this.idle.unref();
    }
  }
}
