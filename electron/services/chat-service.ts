/**
 * Chat: stores the user's message, starts the routed answer and returns at once; text flows out as
 * batched `chat:delta` events and the stored answer (or the error) as one `chat:done`.
 */
import { randomUUID } from 'node:crypto';
import { codeForKind, type AnswerMeta, type Result, type ChannelRequest, type ChannelResponse, type ChatMessageRecord, type Settings } from '../contract/index.js';
import { DeltaBatcher } from '../core/delta-batcher.js';
import type { ChatMessage, CompletionResponse } from '../core/types.js';
import type { ConversationStore } from './conversation-store.js';
import { fail, ok, ServiceError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { RouterService } from './router-service.js';

/** How often streamed text is sent across the boundary while a model is generating. */
const DELTA_INTERVAL_MS = 16;
/** Answers that may run at once; more would only queue behind the local model anyway. */
const MAX_RUNNING = 8;

export class ChatService {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(
    private readonly conversations: ConversationStore,
    private readonly routing: RouterService,
    private readonly events: EventHub,
    private readonly settings: () => Settings,
  ) {}

  async send(request: ChannelRequest<'chat:send'>): Promise<ChannelResponse<'chat:send'>> {
    this.ensureCapacity();
    const conversationId = request.conversationId ?? (await this.conversations.create(titleFrom(request.content))).id;
    const conversation = this.conversations.get(conversationId);
    if (conversation.messageCount === 0 && conversation.title === 'New conversation') {
      await this.conversations.rename(conversationId, titleFrom(request.content));
    }
    const userMessage: ChatMessageRecord = { id: randomUUID(), role: 'user', content: request.content, createdAt: Date.now() };
    await this.conversations.putMessage(conversationId, userMessage);
    const requestId = this.start(conversationId, request.options ?? {}, false);
    return { requestId, conversationId, userMessageId: userMessage.id };
  }

  /** Answers the last user message again; the previous answer to it is replaced. */
  async retry(request: ChannelRequest<'chat:retry'>): Promise<ChannelResponse<'chat:retry'>> {
    this.ensureCapacity();
    const conversation = this.conversations.get(request.conversationId);
    const lastUser = [...conversation.messages].reverse().find((m) => m.role === 'user');
    if (!lastUser) throw new ServiceError('INVALID_ARGUMENT', 'This conversation has no message to answer again.', 'conversationId');
    if ([...this.running.keys()].some((id) => id.startsWith(`${request.conversationId}/`))) {
      throw new ServiceError('BUSY', 'This conversation is still being answered; stop it first.');
    }
    await this.conversations.truncateAfter(request.conversationId, lastUser.id);
    const requestId = this.start(request.conversationId, {}, request.target === 'cloud');
    return { requestId, conversationId: request.conversationId };
  }

  cancel(requestId: string): ChannelResponse<'chat:cancel'> {
    const run = [...this.running].find(([id]) => id.endsWith(`/${requestId}`));
    if (!run) return { cancelled: false };
    run[1].controller.abort();
    return { cancelled: true };
  }

  /** Cancels every running answer and waits until their partial text is stored. */
  async stopAll(): Promise<void> {
    const runs = [...this.running.values()];
    for (const run of runs) run.controller.abort();
    await Promise.all(runs.map((run) => run.done));
  }

  private ensureCapacity(): void {
    if (this.running.size >= MAX_RUNNING) throw new ServiceError('BUSY', `${MAX_RUNNING} answers are already being generated; wait for one to finish.`);
  }

  private start(conversationId: string, options: NonNullable<ChannelRequest<'chat:send'>['options']>, forceCloud: boolean): string {
    const requestId = randomUUID();
    const key = `${conversationId}/${requestId}`;
    const controller = new AbortController();
    const done = this.run(key, conversationId, requestId, options, forceCloud, controller.signal);
    this.running.set(key, { controller, done });
    return requestId;
  }

  private async run(
    key: string,
    conversationId: string,
    requestId: string,
    options: NonNullable<ChannelRequest<'chat:send'>['options']>,
    forceCloud: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const settings = this.settings();
    const messages: ChatMessage[] = this.conversations
      .get(conversationId)
      .messages.filter((m) => m.role !== 'system' && m.content !== '')
      .map((m) => ({ role: m.role, content: m.content }));
    if (settings.generation.systemPrompt.trim()) messages.unshift({ role: 'system', content: settings.generation.systemPrompt });
    const batcher = new DeltaBatcher((text) => this.events.emit('chat:delta', { requestId, conversationId, text }), DELTA_INTERVAL_MS);
    const maxTokens = options.maxTokens ?? settings.generation.maxTokens ?? undefined;
    let result: Result<ChatMessageRecord>;
    try {
      const response = await this.routing.complete(
        {
          messages,
          signal,
          temperature: options.temperature ?? settings.generation.temperature,
          ...(maxTokens === undefined ? {} : { maxTokens }),
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          onText: (text) => batcher.push(text),
        },
        forceCloud,
      );
      batcher.flush();
      const message: ChatMessageRecord = { id: randomUUID(), role: 'assistant', content: response.text, createdAt: Date.now(), meta: metaFor(response) };
      if (this.conversations.exists(conversationId)) await this.conversations.putMessage(conversationId, message);
      result = ok(message);
    } catch (error) {
      batcher.flush();
      result = fail(error);
    }
    // Finished before anyone hears of it: a cancel after `chat:done` must find nothing to cancel.
    this.running.delete(key);
    this.events.emit('chat:done', { requestId, conversationId, result });
    this.events.emit('engine:update', this.routing.engineStatus());
  }
}

function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || 'New conversation';
}

/** The badge data for a routed answer. */
export function metaFor(response: CompletionResponse): AnswerMeta {
  const { timeToFirstTokenMs, totalMs } = response.timings;
  const generating = timeToFirstTokenMs === null ? 0 : totalMs - timeToFirstTokenMs;
  return {
    driverId: response.driverId,
    source: response.role === 'fallback' ? 'cloud' : 'local',
    model: response.model,
    stopReason: response.stopReason,
    usage: response.usage,
    timeToFirstTokenMs: timeToFirstTokenMs === null ? null : Math.round(timeToFirstTokenMs),
    totalMs: Math.round(totalMs),
    tokensPerSecond: response.usage.outputTokens >= 2 && generating > 0 ? Math.round(((response.usage.outputTokens - 1) * 10_000) / generating) / 10 : null,
    ...(response.routeReason ? { routeReason: response.routeReason } : {}),
    ...(response.spilledAfter ? { spilledAfter: { code: codeForKind(response.spilledAfter.kind), message: response.spilledAfter.message } } : {}),
    ...(response.incomplete ? { incomplete: { code: codeForKind(response.incomplete.kind), message: response.incomplete.message } } : {}),
  };
}

