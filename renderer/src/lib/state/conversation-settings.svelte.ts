/**
 * The active conversation's own system prompt, temperature and max tokens; each one left out follows the
 * app's. Saving them for a conversation not started yet starts it.
 */
import type { AppError, ConversationSettings, SpillwayApi } from '../../../../electron/contract/index.js';
import type { ChatState } from './chat.svelte.js';

export class ConversationSettingsState {
  error = $state<AppError | null>(null);
  /** Set after a save, until the next edit. */
  saved = $state(false);

  constructor(
    private readonly api: SpillwayApi,
    private readonly chat: ChatState,
  ) {}

  /** The conversation's own settings ({} follows the app's). */
  get current(): ConversationSettings {
    return this.chat.conversations.find((c) => c.id === this.chat.activeId)?.settings ?? {};
  }

  async save(settings: ConversationSettings): Promise<boolean> {
    this.saved = false;
    const id = this.chat.activeId ?? (await this.chat.startConversation());
    if (id === null) return false;
    const result = await this.api.conversationsSetSettings({ id, settings });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    this.error = null;
    this.saved = true;
    this.chat.updateSummary(result.value);
    return true;
  }
}
