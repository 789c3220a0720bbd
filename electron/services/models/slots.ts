/** At most `limit` downloads run at once; the others wait in order (and can be stopped while waiting). */
import { DownloadError } from './download-errors.js';

export class Slots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(stopped());
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const go = () => {
        signal.removeEventListener('abort', stop);
        this.running++;
        resolve();
      };
      const stop = () => {
        this.waiting.splice(this.waiting.indexOf(go), 1);
        reject(stopped());
      };
      this.waiting.push(go);
      signal.addEventListener('abort', stop, { once: true });
    });
  }

  release(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}

function stopped(): DownloadError {
  return new DownloadError('aborted', 'The download was stopped before it started.');
}
