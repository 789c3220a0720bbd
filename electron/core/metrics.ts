/** Latency statistics and the routing event log kept by the router. */
import type { Distribution, LatencyFigures, RoutingEvent, RoutingOutcome } from '../contract/index.js';

export type { Distribution, LatencyFigures, RoutingEvent, RoutingOutcome };

/** Keeps the last `capacity` samples and reports nearest-rank percentiles over them. */
export class SampleWindow {
  private readonly samples: number[] = [];
  private total = 0;

  constructor(private readonly capacity = 500) {}

  add(value: number): void {
    if (!Number.isFinite(value)) return;
    this.total++;
    this.samples.push(value);
    if (this.samples.length > this.capacity) this.samples.shift();
  }

  snapshot(): Distribution {
    if (this.samples.length === 0) return { count: 0, p50: null, p95: null };
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
    return { count: this.total, p50: round(at(0.5)), p95: round(at(0.95)) };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** One completion's latency as the router saw it. */
export interface LatencySample {
  timeToFirstTokenMs: number | null;
  totalMs: number;
  outputTokens: number;
}

export class LatencyTracker {
  private readonly ttft = new SampleWindow();
  private readonly total = new SampleWindow();
  private readonly tps = new SampleWindow();

  add(sample: LatencySample): void {
    this.total.add(sample.totalMs);
    if (sample.timeToFirstTokenMs === null) return;
    this.ttft.add(sample.timeToFirstTokenMs);
    const tps = tokensPerSecond(sample);
    if (tps !== null) this.tps.add(tps);
  }

  /** True once any completion was added. */
  observed(): boolean {
    return this.total.snapshot().count > 0;
  }

  snapshot(): LatencyFigures {
    return { timeToFirstTokenMs: this.ttft.snapshot(), totalMs: this.total.snapshot(), tokensPerSecond: this.tps.snapshot() };
  }
}

/** Generation speed after the first token, as LM Studio and Ollama report it; null when it cannot be told. */
export function tokensPerSecond(sample: LatencySample): number | null {
  if (sample.timeToFirstTokenMs === null || sample.outputTokens < 2) return null;
  const generating = sample.totalMs - sample.timeToFirstTokenMs;
  return generating > 0 ? ((sample.outputTokens - 1) * 1000) / generating : null;
}

/** A bounded log that keeps the most recent events. */
export class EventLog {
  private readonly events: RoutingEvent[] = [];

  constructor(private readonly capacity = 100) {}

  push(event: RoutingEvent): void {
    this.events.push(event);
    if (this.events.length > this.capacity) this.events.shift();
  }

  snapshot(): RoutingEvent[] {
    return this.events.map((event) => ({ ...event }));
  }
}
