/**
 * Conversations and the chat stream. Deltas are gathered and applied once per animation frame, so a model
 * producing hundreds of tokens a second costs the window one update per frame. Regenerating and editing
 * start a new branch; the services keep the old one, and the view moves between them (‹ 1/2 ›).
 */
import type { AppError, Attachment, ConversationMessage, ConversationSummary, Events, SpillwayApi } from '../../../../electron/contract/index.js';
import { frameScheduler, type Scheduler } from './scheduler.js';

/** A message as the chat view shows it: stored, or the answer still streaming, or a failed answer. */
export interface UiMessage extends ConversationMessage {
  streaming?: boolean;
  error?: AppError;
}

export class ChatState {
  conversations = $state<ConversationSummary[]>([]);
  activeId = $state<string | null>(null);
  messages = $state<UiMessage[]>([]);
  /** The request being answered in the active conversation. */
  runningRequest = $state<string | null>(null);
  error = $state<AppError | null>(null);
  readonly busy = $derived(this.runningRequest !== null);

  private readonly pending = new Map<string, string>();
  private flushScheduled = false;
  /**
   * Events that arrive before `chat:send` has returned the request id (a fast failure can beat the reply),
   * kept briefly so the answer they belong to can claim them.
   */
  private readonly early = new Map<string, { text: string; done?: Events['chat:done'] }>();

  constructor(
    private readonly api: SpillwayApi,
    private readonly schedule: Scheduler = frameScheduler,
  ) {
    api.on('chat:delta', (p) => this.onDelta(p));
    api.on('chat:done', (p) => void this.onDone(p));
    // Another window (or this one) renamed, pinned, answered in or deleted a conversation.
    api.on('conversations:changed', ({ id, summary }) => {
      if (summary) return this.updateSummary(summary);
      this.conversations = this.conversations.filter((c) => c.id !== id);
      if (this.activeId === id) this.newConversation();
    });
  }

  async load(): Promise<void> {
    const result = await this.api.conversationsList({});
    if (result.ok) this.conversations = result.value;
    else this.error = result.error;
  }

  async select(id: string): Promise<void> {
    const result = await this.api.conversationsGet({ id });
    if (!result.ok) {
      this.error = result.error;
      return;
    }
    this.activeId = id;
    this.messages = result.value.messages;
    this.runningRequest = null;
  }

  newConversation(): void {
    this.activeId = null;
    this.messages = [];
    this.runningRequest = null;
  }

  /** Creates the conversation not started yet (to pin it before its first message); null on refusal. */
  async startConversation(): Promise<string | null> {
    const result = await this.api.conversationsCreate({});
    if (!result.ok) {
      this.error = result.error;
      return null;
    }
    const { messages: _messages, consent: _consent, ...summary } = result.value;
    this.updateSummary(summary);
    this.activeId = summary.id;
    this.messages = [];
    this.runningRequest = null;
    return summary.id;
  }

  /** Puts a changed conversation's summary (a new title, a pin) into the list without reloading it. */
  updateSummary(summary: ConversationSummary): void {
    const at = this.conversations.findIndex((c) => c.id === summary.id);
    if (at === -1) this.conversations.unshift(summary);
    else this.conversations[at] = summary;
    // Most recently updated first, as the services list them.
    this.conversations.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async rename(id: string, title: string): Promise<boolean> {
    const result = await this.api.conversationsRename({ id, title });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    await this.load();
    return true;
  }

  async remove(id: string): Promise<void> {
    const result = await this.api.conversationsDelete({ id });
    if (!result.ok) {
      this.error = result.error;
      return;
    }
    if (this.activeId === id) this.newConversation();
    await this.load();
  }

  /** Sends a message with its files; the answer streams into `messages`. */
  async send(content: string, files: readonly Attachment[] = []): Promise<boolean> {
    const text = content.trim();
    if ((!text && files.length === 0) || this.busy) return false;
    this.error = null;
    const attachments = files.length > 0 ? { attachments: $state.snapshot(files) as Attachment[] } : {};
    const result = await this.api.chatSend({ content: text, ...attachments, ...(this.activeId ? { conversationId: this.activeId } : {}) });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    const { requestId, conversationId, userMessageId } = result.value;
    if (this.activeId !== conversationId) {
      this.activeId = conversationId;
      this.messages = [];
    }
    this.messages.push({ id: userMessageId, role: 'user', content: text, createdAt: Date.now(), ...attachments });
    this.startAnswer(requestId);
    void this.load();
    return true;
  }

  /** A new answer for the turn of `messageId` (the last turn when absent); the earlier one stays a branch. */
  regenerate(messageId?: string): Promise<void> {
    return this.answerAgain(messageId === undefined ? {} : { messageId });
  }

  /** Answers the last message again on the endpoints only (after an incomplete or failed answer). */
  retryOnCloud(): Promise<void> {
    return this.answerAgain({ target: 'cloud' });
  }

  /** Sends an edited copy of a message of yours; the conversation continues from it, the original stays a branch. */
  async edit(messageId: string, content: string): Promise<boolean> {
    const text = content.trim();
    const at = this.messages.findIndex((m) => m.id === messageId);
    const original = this.messages[at];
    if (!this.activeId || this.busy || !original || (!text && !original.attachments?.length)) return false;
    this.error = null;
    const result = await this.api.chatEdit({ conversationId: this.activeId, messageId, content: text });
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    const edited: UiMessage = { id: result.value.userMessageId, role: 'user', content: text, createdAt: Date.now(), ...(original.attachments ? { attachments: original.attachments } : {}) };
    this.messages.splice(at, this.messages.length - at, edited);
    this.startAnswer(result.value.requestId);
    return true;
  }

  /** Shows another version of a turn (‹ ›) and the branch that follows it. */
  async selectBranch(messageId: string): Promise<void> {
    const id = this.activeId;
    if (!id || this.busy) return;
    const result = await this.api.conversationsSelectBranch({ id, messageId });
    if (!result.ok) this.error = result.error;
    else if (this.activeId === id) this.messages = result.value.messages;
  }

  private async answerAgain(options: { messageId?: string; target?: 'cloud' }): Promise<void> {
    if (!this.activeId || this.busy) return;
    this.error = null;
    const result = await this.api.chatRetry({ conversationId: this.activeId, ...options });
    if (!result.ok) {
      this.error = result.error;
      return;
    }
    // Shown up to the turn's question; the new answer streams after it.
    const at = options.messageId === undefined ? -1 : this.messages.findIndex((m) => m.id === options.messageId);
    const question = at === -1 ? this.messages.findLastIndex((m) => m.role === 'user') : this.messages[at]!.role === 'user' ? at : at - 1;
    this.messages.splice(question + 1);
    this.startAnswer(result.value.requestId);
  }

  /** Stops the running answer; what has streamed is kept. */
  async stop(): Promise<void> {
    if (this.runningRequest) await this.api.chatCancel({ requestId: this.runningRequest });
  }

  dismissError(): void {
    this.error = null;
  }

  private startAnswer(requestId: string): void {
    this.runningRequest = requestId;
    const early = this.early.get(requestId);
    this.early.delete(requestId);
    this.messages.push({ id: `pending-${requestId}`, role: 'assistant', content: early?.text ?? '', createdAt: Date.now(), streaming: true });
    if (early?.done) void this.onDone(early.done);
  }

  private remember(requestId: string): { text: string; done?: Events['chat:done'] } {
    let entry = this.early.get(requestId);
    if (!entry) {
      entry = { text: '' };
      this.early.set(requestId, entry);
      // Events of answers started elsewhere (another window) are never claimed: keep only a few.
      if (this.early.size > 32) this.early.delete(this.early.keys().next().value!);
    }
    return entry;
  }

  private onDelta(p: Events['chat:delta']): void {
    if (p.requestId !== this.runningRequest) {
      this.remember(p.requestId).text += p.text;
      return;
    }
    this.pending.set(p.requestId, (this.pending.get(p.requestId) ?? '') + p.text);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.schedule(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [requestId, text] of this.pending) {
      const message = this.messages.find((m) => m.id === `pending-${requestId}`);
      if (message) message.content += text;
    }
    this.pending.clear();
  }

  private async onDone(p: Events['chat:done']): Promise<void> {
    if (p.requestId !== this.runningRequest) this.remember(p.requestId).done = p;
    else {
      this.flush();
      const at = this.messages.findIndex((m) => m.id === `pending-${p.requestId}`);
      if (at !== -1) {
        const streamed = this.messages[at]!;
        this.messages[at] = p.result.ok ? p.result.value : { ...streamed, streaming: false, error: p.result.error };
      }
      this.runningRequest = null;
      // The stored branch says how many versions each turn now has (‹ 1/2 ›).
      if (p.result.ok) await this.reload(p.conversationId);
    }
    await this.load();
  }

  /**
   * Takes the stored messages of the active conversation's branch (with their versions) in place of the
   * ones shown; an answer that failed, and so was never stored, stays where it is.
   */
  private async reload(id: string): Promise<void> {
    if (this.activeId !== id) return;
    const result = await this.api.conversationsGet({ id });
    if (!result.ok || this.activeId !== id || this.busy) return;
    const stored = new Map(result.value.messages.map((m) => [m.id, m]));
    this.messages = this.messages.map((m) => stored.get(m.id) ?? m);
  }
}
