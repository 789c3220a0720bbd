/** Live router metrics and the recent requests the chart plots. */
import type { EntryKind, RouterMetrics, SpillwayApi } from '../../../../electron/contract/index.js';

export interface ChartPoint {
  /** Seconds since the epoch (uPlot's time axis). */
  t: number;
  latencyMs: number;
  tokensPerSecond: number | null;
  /** Who answered: the local engine or an endpoint. */
  kind: EntryKind;
}

export class MetricsState {
  metrics = $state<RouterMetrics | null>(null);
  /** Finished requests with a latency, oldest first. */
  readonly points = $derived<ChartPoint[]>(
    (this.metrics?.events ?? [])
      .filter((e) => e.outcome === 'success' && e.latencyMs !== undefined)
      .map((e) => ({ t: e.at / 1000, latencyMs: e.latencyMs!, tokensPerSecond: e.tokensPerSecond ?? null, kind: e.entryKind })),
  );

  constructor(private readonly api: SpillwayApi) {
    api.on('metrics:update', (m) => {
      this.metrics = m;
    });
  }

  async load(): Promise<void> {
    const result = await this.api.metricsGet({});
    if (result.ok) this.metrics = result.value;
  }
}

/** An entry's failures by kind, most frequent first: "timeout 2, network 1". */
export function failureKinds(byKind: Record<string, number>): string {
  return Object.entries(byKind)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
}
