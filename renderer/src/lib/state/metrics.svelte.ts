/** Live router metrics and the recent requests the chart plots. */
import type { RouterMetrics, SpillwayApi } from '../../../../electron/contract/index.js';

export interface ChartPoint {
  /** Seconds since the epoch (uPlot's time axis). */
  t: number;
  latencyMs: number;
  tokensPerSecond: number | null;
  source: 'local' | 'cloud';
}

export class MetricsState {
  metrics = $state<RouterMetrics | null>(null);
  /** Finished requests with a latency, oldest first. */
  readonly points = $derived<ChartPoint[]>(
    (this.metrics?.events ?? [])
      .filter((e) => e.outcome === 'success' && e.latencyMs !== undefined)
      .map((e) => ({ t: e.at / 1000, latencyMs: e.latencyMs!, tokensPerSecond: e.tokensPerSecond ?? null, source: e.role === 'fallback' ? 'cloud' : 'local' })),
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
