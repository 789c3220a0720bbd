/**
 * "What left this computer": the egress ledger, filtered by endpoint, conversation and dates, with its
 * totals. While the view is open it follows `egress:update`, so a request shows up as it is sent and again
 * when it ends.
 */
import type { AppError, EgressEntry, EgressQuery, EgressReport, SpillwayApi } from '../../../../electron/contract/index.js';
import { egressCsv, egressJson, type EndpointNames } from '../egress-export.js';

/** All conversations, the OpenAI-compatible API's requests, or the conversation open in Chat. */
export type ConversationFilter = 'all' | 'api' | 'active';

export interface EgressFilters {
  /** An endpoint id, or '' for every endpoint. */
  endpointId: string;
  conversation: ConversationFilter;
  /** `YYYY-MM-DD` (local days, inclusive), or ''. */
  from: string;
  to: string;
}

/** Local midnight of a `YYYY-MM-DD` day, plus `days`. */
function dayStart(day: string, days = 0): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return undefined;
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days).getTime();
}

export class EgressState {
  filters = $state<EgressFilters>({ endpointId: '', conversation: 'all', from: '', to: '' });
  report = $state<EgressReport | null>(null);
  error = $state<AppError | null>(null);
  private watchers = 0;
  private loading: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly api: SpillwayApi,
    /** The conversation open in Chat, for the "this conversation" filter. */
    private readonly activeConversation: () => string | null,
    /** Endpoint names by id (the ledger records ids and hosts). */
    readonly endpointName: EndpointNames,
  ) {
    api.on('egress:update', () => {
      if (this.watchers > 0) void this.load();
    });
  }

  /** Changes one filter and loads what it selects. */
  setFilter<K extends keyof EgressFilters>(key: K, value: EgressFilters[K]): Promise<void> {
    this.filters[key] = value;
    return this.load();
  }

  /** The query the filters describe. */
  query(): EgressQuery {
    const { endpointId, conversation, from, to } = this.filters;
    const active = this.activeConversation();
    const conversationId = conversation === 'api' ? 'api' : conversation === 'active' && active ? active : undefined;
    const since = dayStart(from);
    const until = dayStart(to, 1);
    return {
      ...(endpointId ? { endpointId } : {}),
      ...(conversationId ? { conversationId } : {}),
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
    };
  }

  /** Loads the report for the filters; calls during a load are folded into one more load after it. */
  load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        const result = await this.api.egressList(this.query());
        if (result.ok) {
          this.report = result.value;
          this.error = null;
        } else this.error = result.error;
      } while (this.again);
      this.loading = null;
    })();
    return this.loading;
  }

  /** Follows the ledger live while the view is shown; returns the function that stops following. */
  watch(): () => void {
    this.watchers++;
    void this.load();
    return () => {
      this.watchers--;
    };
  }

  /** The entries shown, as an export. */
  export(format: 'json' | 'csv'): string {
    const entries: EgressEntry[] = this.report?.entries ?? [];
    return format === 'json' ? egressJson(entries, this.endpointName) : egressCsv(entries, this.endpointName);
  }
}
