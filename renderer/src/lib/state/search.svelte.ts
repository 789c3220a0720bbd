/** Searching conversations by title and content while the person types (after a short pause). */
import type { AppError, ConversationSearchHit, SpillwayApi } from '../../../../electron/contract/index.js';

export class SearchState {
  query = $state('');
  /** null while there is no query: the full list shows. */
  hits = $state<ConversationSearchHit[] | null>(null);
  error = $state<AppError | null>(null);
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly api: SpillwayApi,
    private readonly pauseMs = 150,
  ) {}

  /** Sets the query; the search runs once typing pauses. */
  setQuery(query: string): void {
    this.query = query;
    if (this.timer) clearTimeout(this.timer);
    if (query.trim() === '') {
      this.hits = null;
      this.error = null;
      return;
    }
    this.timer = setTimeout(() => void this.run(query), this.pauseMs);
  }

  clear(): void {
    this.setQuery('');
  }

  private async run(query: string): Promise<void> {
    const result = await this.api.conversationsSearch({ query });
    if (query !== this.query) return; // typed on meanwhile
    if (result.ok) {
      this.hits = result.value;
      this.error = null;
    } else this.error = result.error;
  }
}
