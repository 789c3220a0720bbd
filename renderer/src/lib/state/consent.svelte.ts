/**
 * "Ask me before anything leaves this computer": the questions the services ask, one at a time. A question
 * closes when it is answered here, or when `consent:settled` says another window answered it or the
 * request it belongs to was cancelled.
 */
import type { AppError, ConsentChoice, ConsentRequest, SpillwayApi } from '../../../../electron/contract/index.js';

export class ConsentState {
  /** Pending questions, oldest first; the first is the one shown. */
  queue = $state<ConsentRequest[]>([]);
  error = $state<AppError | null>(null);
  /** True while an answer is on its way, so a double click sends one answer. */
  answering = $state(false);
  readonly current = $derived(this.queue[0] ?? null);

  constructor(private readonly api: SpillwayApi) {
    api.on('consent:request', (request) => {
      if (!this.queue.some((q) => q.consentId === request.consentId)) this.queue.push(request);
    });
    api.on('consent:settled', ({ consentId }) => this.drop(consentId));
  }

  /** Answers the question shown: send once, always for this conversation, or keep it here. */
  async answer(choice: ConsentChoice): Promise<void> {
    const request = this.current;
    if (!request || this.answering) return;
    this.answering = true;
    const result = await this.api.chatConsent({ consentId: request.consentId, choice });
    this.answering = false;
    // Not settled means it was already answered elsewhere or withdrawn: either way it is no longer asked.
    if (result.ok) {
      this.error = null;
      this.drop(request.consentId);
    } else this.error = result.error;
  }

  private drop(consentId: string): void {
    this.queue = this.queue.filter((q) => q.consentId !== consentId);
  }
}
