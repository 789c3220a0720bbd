/** Download speed over a sliding window, ETA, and byte counts in words a person reads. */

/** Bytes per second over the last `windowMs` (about 2 s): steady enough to read, quick to follow a change. */
export class SpeedMeter {
  private samples: Array<{ at: number; bytes: number }> = [];
  private total = 0;

  constructor(private readonly windowMs = 2000) {}

  /** Counts `bytes` that just arrived. */
  add(bytes: number, now = performance.now()): void {
    this.total += bytes;
    // One sample per 50 ms is plenty for a 2 s window, and keeps the cost per 64 kB chunk at an addition.
    const last = this.samples[this.samples.length - 1];
    if (!last || now - last.at >= 50) {
      this.samples.push({ at: now, bytes: this.total });
      this.trim(now);
    }
  }

  /** Bytes per second; 0 until there are two samples, and it falls towards 0 when nothing arrives. */
  speed(now = performance.now()): number {
    this.trim(now);
    const first = this.samples[0];
    if (!first) return 0;
    const elapsed = Math.max(now - first.at, this.windowMs / 4) / 1000;
    return Math.max(0, (this.total - first.bytes) / elapsed);
  }

  reset(): void {
    this.samples = [];
  }

  private trim(now: number): void {
    // Keep one sample older than the window as the baseline the rate is measured from.
    while (this.samples.length > 1 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
  }
}

/** Seconds left at `speed`, or null when there is no estimate. */
export function etaSeconds(remaining: number | null, speed: number): number | null {
  if (remaining === null || speed <= 0) return null;
  return Math.ceil(remaining / speed);
}

/** 1234567 → "1.2 MB" (decimal units, as Hugging Face shows file sizes). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
