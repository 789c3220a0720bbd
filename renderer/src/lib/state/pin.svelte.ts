/**
 * The active conversation's own routing: which entry answers it next, and its pin (a strategy, a ceiling
 * and/or one entry of its own). A new conversation shows the app's route; pinning it creates the conversation.
 */
import type { AppError, ConversationPin, PrivacyTier, RouteEntryInfo, RouterState, RoutingStrategy, SpillwayApi } from '../../../../electron/contract/index.js';
import type { ChatState } from './chat.svelte.js';

export class PinState {
  /** The conversation followed; null for a conversation not started yet. */
  conversationId = $state<string | null>(null);
  /** The route under this conversation's pin (the app's route for a new conversation). */
  state = $state<RouterState | null>(null);
  error = $state<AppError | null>(null);
  /** The entry that answers this conversation's next message; null when nothing can. */
  readonly next = $derived<RouteEntryInfo | null>(this.state?.route.find((e) => e.id === this.state?.next) ?? null);

  constructor(
    private readonly api: SpillwayApi,
    private readonly chat: ChatState,
  ) {
    api.on('router:update', () => void this.refresh());
    // Its pin may have been changed in another window: the route under it changes too.
    api.on('conversations:changed', ({ id, summary }) => {
      if (id === this.conversationId && summary) void this.refresh();
    });
    // An answer can open or close a circuit, which changes who answers next.
    api.on('chat:done', (p) => {
      if (p.conversationId === this.conversationId) void this.refresh();
    });
  }

  /** This conversation's pin, as the conversation list has it; null follows the app. */
  get pin(): ConversationPin | null {
    return this.chat.conversations.find((c) => c.id === this.conversationId)?.pin ?? null;
  }

  /** Follows another conversation (null: a new one). */
  async follow(conversationId: string | null): Promise<void> {
    if (conversationId === this.conversationId && this.state) return;
    this.conversationId = conversationId;
    this.state = null;
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const id = this.conversationId;
    const result = await this.api.routerGet(id === null ? {} : { conversationId: id });
    if (id !== this.conversationId) return; // the person moved on while this was asked
    if (result.ok) this.state = result.value;
    else this.error = result.error;
  }

  /** Pins this conversation to a strategy (null: the app's), keeping its ceiling. */
  setStrategy(strategy: RoutingStrategy | null): Promise<void> {
    const { strategy: _old, ...rest } = this.pin ?? {};
    return this.setPin(strategy === null ? rest : { ...rest, strategy });
  }

  /** Pins this conversation to a ceiling (null: the app's), keeping its strategy. */
  setCeiling(ceiling: PrivacyTier | null): Promise<void> {
    const { ceiling: _old, ...rest } = this.pin ?? {};
    return this.setPin(ceiling === null ? rest : { ...rest, ceiling });
  }

  /** Pins this conversation to one entry of the route (null: any the route allows), keeping the rest. */
  setEntry(entryId: string | null): Promise<void> {
    const { entryId: _old, ...rest } = this.pin ?? {};
    return this.setPin(entryId === null ? rest : { ...rest, entryId });
  }

  /** Follows the app's strategy and ceiling again. */
  clear(): Promise<void> {
    return this.setPin(null);
  }

  private async setPin(pin: ConversationPin | null): Promise<void> {
    const empty = pin === null || Object.keys(pin).length === 0;
    if (empty && this.conversationId === null) return;
    const id = this.conversationId ?? (await this.chat.startConversation());
    if (id === null) return;
    this.conversationId = id;
    const result = await this.api.conversationsSetPin({ id, pin: empty ? null : pin });
    if (!result.ok) {
      this.error = result.error;
      return;
    }
    this.error = null;
    this.chat.updateSummary(result.value);
    await this.refresh();
  }
}
