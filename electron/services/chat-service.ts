/**
 * Chat: stores the user's message, starts the routed answer and returns at once; text flows out as
 * batched `chat:delta` events and the stored answer (or the error) as one `chat:done`. Each answer follows
 * its conversation's pin, and when the person asked to be asked, waits for their consent before the
 * conversation leaves this computer.
 */
import { randomUUID } from 'node:crypto';
import {
  codeForKind,
  type AnswerMeta,
  type Attachment,
  type ChannelRequest,
  type ChannelResponse,
  type ChatMessageRecord,
  type ConsentChoice,
  type Conversation,
  type ConversationPin,
  type ConversationSummary,
  type Result,
} from '../contract/index.js';
import { DeltaBatcher } from '../core/delta-batcher.js';
import type { ConsentAsk, ConsentHook } from '../core/egress.js';
import type { RouteOptions } from '../core/router.js';
import type { CompletionResponse } from '../core/types.js';
import type { ConversationStore } from './conversation-store.js';
import { fail, ok, ServiceError } from './errors.js';
import type { EventHub } from './event-hub.js';
import { effectiveGeneration, promptMessages } from './prompt.js';
import type { RouterService } from './router-service.js';
import type { SettingsService } from './settings-service.js';

/** How often streamed text is sent across the boundary while a model is generating. */
const DELTA_INTERVAL_MS = 16;

interface PendingConsent {
  requestId: string;
  conversationId: string;
  entryId: string;
  resolve(choice: ConsentChoice): void;
}

export class ChatService {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly consents = new Map<string, PendingConsent>();

  constructor(
    private readonly conversations: ConversationStore,
    private readonly routing: RouterService,
    private readonly settings: SettingsService,
    private readonly events: EventHub,
  ) {}

  /**
   * Stores the message and starts its answer. How many answers the local model writes at once, and how
   * many may wait, is the local driver's to decide (one limit, one queue); a full queue ends the answer with
   * RATE_LIMITED, or spills over under Local first.
   */
  async send(request: ChannelRequest<'chat:send'>): Promise<ChannelResponse<'chat:send'>> {
    const title = titleFrom(request.content, request.attachments);
    const conversationId = request.conversationId ?? (await this.conversations.create(title)).id;
    this.ensureIdle(conversationId);
    const conversation = this.conversations.get(conversationId);
    if (conversation.messageCount === 0 && conversation.title === 'New conversation') {
      await this.conversations.rename(conversationId, title);
    }
    const userMessage = userMessageOf(request.content, request.attachments);
    // The message continues the branch shown.
    await this.conversations.append(conversationId, userMessage, conversation.messages.at(-1)?.id ?? null);
    const requestId = this.start(conversationId, request.options ?? {}, false);
    return { requestId, conversationId, userMessageId: userMessage.id };
  }

  /**
   * Answers a turn again: the turn of the answer `messageId` (or of that user message), else the last user
   * message. The new answer is a branch beside the earlier ones, which stay reachable.
   */
  async retry(request: ChannelRequest<'chat:retry'>): Promise<ChannelResponse<'chat:retry'>> {
    this.ensureIdle(request.conversationId);
    const turn = request.messageId === undefined ? this.lastUserMessage(request.conversationId) : this.turnOf(request.conversationId, request.messageId);
    await this.conversations.setCurrent(request.conversationId, turn);
    const requestId = this.start(request.conversationId, {}, request.target === 'cloud');
    return { requestId, conversationId: request.conversationId };
  }

  /** Sends an edited copy of a user message as a branch beside it (its files kept), and answers it. */
  async edit(request: ChannelRequest<'chat:edit'>): Promise<ChannelResponse<'chat:edit'>> {
    this.ensureIdle(request.conversationId);
    const original = this.conversations.message(request.conversationId, request.messageId);
    if (original.role !== 'user') throw new ServiceError('INVALID_ARGUMENT', 'Only your own messages can be edited; regenerate an answer instead.', 'messageId');
    if (request.content === '' && !original.attachments?.length) throw new ServiceError('INVALID_ARGUMENT', 'content: must not be empty', 'content');
    const edited = userMessageOf(request.content, original.attachments);
    await this.conversations.setCurrent(request.conversationId, original.parentId);
    await this.conversations.append(request.conversationId, edited, original.parentId);
    const requestId = this.start(request.conversationId, {}, false);
    return { requestId, conversationId: request.conversationId, userMessageId: edited.id };
  }

  /** Shows another branch; not while the conversation is being answered (the answer belongs to this one). */
  async selectBranch(id: string, messageId: string): Promise<Conversation> {
    this.ensureIdle(id);
    return this.conversations.selectBranch(id, messageId);
  }

  cancel(requestId: string): ChannelResponse<'chat:cancel'> {
    const run = [...this.running].find(([id]) => id.endsWith(`/${requestId}`));
    if (!run) return { cancelled: false };
    run[1].controller.abort();
    return { cancelled: true };
  }

  /** The person's answer to a `consent:request`. */
  async consent(consentId: string, choice: ConsentChoice): Promise<ChannelResponse<'chat:consent'>> {
    const pending = this.consents.get(consentId);
    if (!pending) return { settled: false };
    this.consents.delete(consentId);
    if (choice === 'always' && this.conversations.exists(pending.conversationId)) {
      await this.conversations.allowEgress(pending.conversationId, pending.entryId);
    }
    this.events.emit('consent:settled', { consentId, choice });
    pending.resolve(choice);
    return { settled: true };
  }

  /** Pins a conversation; a pinned entry must be part of the route. */
  async setPin(id: string, pin: ConversationPin | null): Promise<ConversationSummary> {
    if (pin?.entryId !== undefined && !this.routing.state().route.some((e) => e.id === pin.entryId)) {
      throw new ServiceError('INVALID_ARGUMENT', `pin.entryId: "${pin.entryId}" is not an entry of the route.`, 'pin.entryId');
    }
    return this.conversations.setPin(id, pin);
  }

  /** Cancels every running answer and waits until their partial text is stored. */
  async stopAll(): Promise<void> {
    const runs = [...this.running.values()];
    for (const run of runs) run.controller.abort();
    await Promise.all(runs.map((run) => run.done));
  }

  /** Deletes a conversation and the prompt the local engine keeps for it (in memory and on disk). */
  async deleteConversation(id: string): Promise<void> {
    await this.conversations.delete(id);
    await this.routing.forgetConversation(id);
  }

  private ensureIdle(conversationId: string): void {
    if ([...this.running.keys()].some((key) => key.startsWith(`${conversationId}/`))) {
      throw new ServiceError('BUSY', 'This conversation is still being answered; stop it first.');
    }
  }

  /** The last user message of the branch shown. */
  private lastUserMessage(conversationId: string): string {
    const lastUser = this.conversations.get(conversationId).messages.findLast((m) => m.role === 'user');
    if (!lastUser) throw new ServiceError('INVALID_ARGUMENT', 'This conversation has no message to answer again.', 'conversationId');
    return lastUser.id;
  }

  /** The user message an answer answers (or the user message itself). */
  private turnOf(conversationId: string, messageId: string): string {
    const message = this.conversations.message(conversationId, messageId);
    if (message.role === 'user') return message.id;
    const question = message.parentId === null ? null : this.conversations.message(conversationId, message.parentId);
    if (question?.role !== 'user') throw new ServiceError('INVALID_ARGUMENT', 'This message does not answer one of yours.', 'messageId');
    return question.id;
  }

  private start(conversationId: string, options: NonNullable<ChannelRequest<'chat:send'>['options']>, onEndpoints: boolean): string {
    const requestId = randomUUID();
    const key = `${conversationId}/${requestId}`;
    const controller = new AbortController();
    const done = this.run(key, conversationId, requestId, options, onEndpoints, controller.signal);
    this.running.set(key, { controller, done });
    return requestId;
  }

  private async run(
    key: string,
    conversationId: string,
    requestId: string,
    options: NonNullable<ChannelRequest<'chat:send'>['options']>,
    onEndpoints: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const settings = this.settings.current();
    const conversation = this.conversations.get(conversationId);
    // The answer follows the message the branch ends at when it starts.
    const parentId = conversation.messages.at(-1)?.id ?? null;
    const generation = effectiveGeneration(settings.generation, conversation.settings);
    const messages = promptMessages(conversation.messages, generation.systemPrompt);
    const batcher = new DeltaBatcher((text) => this.events.emit('chat:delta', { requestId, conversationId, text }), DELTA_INTERVAL_MS);
    const maxTokens = options.maxTokens ?? generation.maxTokens ?? undefined;
    const pin = conversation.pin;
    const route: RouteOptions = {
      conversationId,
      ...(pin?.strategy ? { strategy: pin.strategy } : {}),
      ...(pin?.ceiling ? { ceiling: pin.ceiling } : {}),
      ...(pin?.entryId && !onEndpoints ? { entryId: pin.entryId } : {}),
      // "Retry on cloud": the endpoints only, whatever the strategy.
      ...(onEndpoints ? { strategy: 'cloud-only' as const, reason: 'retry' as const } : {}),
      ...(settings.routing.askBeforeSending ? { consent: this.askFor(requestId, conversationId) } : {}),
    };
    let result: Result<ChatMessageRecord>;
    try {
      const response = await this.routing.route(
        {
          messages,
          signal,
          // The local engine keeps this conversation's prompt on one sequence, or on disk when evicted.
          affinityKey: conversationId,
          temperature: options.temperature ?? generation.temperature,
          ...(maxTokens === undefined ? {} : { maxTokens }),
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          onText: (text) => batcher.push(text),
        },
        route,
      );
      batcher.flush();
      const message: ChatMessageRecord = { id: randomUUID(), role: 'assistant', content: response.text, createdAt: Date.now(), meta: this.metaFor(response) };
      if (this.conversations.exists(conversationId)) await this.conversations.append(conversationId, message, parentId);
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

  /** The consent hook for one answer: asks, unless the person always lets this conversation go there. */
  private askFor(requestId: string, conversationId: string): ConsentHook {
    return (ask: ConsentAsk, signal: AbortSignal | undefined) => {
      if (this.conversations.exists(conversationId) && this.conversations.get(conversationId).consent.includes(ask.entryId)) return Promise.resolve('once');
      return new Promise<ConsentChoice>((resolve) => {
        const consentId = randomUUID();
        const withdraw = (): void => {
          if (!this.consents.delete(consentId)) return;
          this.events.emit('consent:settled', { consentId, choice: 'withdrawn' });
        };
        signal?.addEventListener('abort', withdraw, { once: true });
        this.consents.set(consentId, {
          requestId,
          conversationId,
          entryId: ask.entryId,
          resolve: (choice) => {
            signal?.removeEventListener('abort', withdraw);
            resolve(choice);
          },
        });
        this.events.emit('consent:request', {
          consentId,
          requestId,
          conversationId,
          entry: { id: ask.entryId, name: ask.name, host: ask.host, model: ask.model, tier: ask.tier },
          why: ask.why,
          ...(ask.after ? { after: { kind: ask.after.kind, message: ask.after.message } } : {}),
        });
      });
    };
  }

  /** The badge data for a routed answer. */
  private metaFor(response: CompletionResponse): AnswerMeta {
    const entry = this.routing.state().route.find((e) => e.id === response.entryId);
    return metaFor(response, entry ? { name: entry.name, tier: entry.tier } : undefined);
  }
}

function titleFrom(content: string, attachments: readonly Attachment[] = []): string {
  const line = content.trim().split('\n')[0] || attachments[0]?.name || '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || 'New conversation';
}

function userMessageOf(content: string, attachments: readonly Attachment[] = []): ChatMessageRecord {
  return { id: randomUUID(), role: 'user', content, createdAt: Date.now(), ...(attachments.length > 0 ? { attachments: [...attachments] } : {}) };
}

/** The badge data for a routed answer; `entry` names the entry that answered. */
export function metaFor(response: CompletionResponse, entry?: { name: string; tier: AnswerMeta['tier'] }): AnswerMeta {
  const { timeToFirstTokenMs, totalMs } = response.timings;
  const generating = timeToFirstTokenMs === null ? 0 : totalMs - timeToFirstTokenMs;
  const entryKind = response.entryKind ?? 'local';
  return {
    entryId: response.entryId,
    entryKind,
    entryName: entry?.name ?? response.entryId,
    model: response.model,
    tier: entry?.tier ?? (entryKind === 'local' ? 'sovereign' : 'standard'),
    stopReason: response.stopReason,
    usage: response.usage,
    timeToFirstTokenMs: timeToFirstTokenMs === null ? null : Math.round(timeToFirstTokenMs),
    totalMs: Math.round(totalMs),
    tokensPerSecond: response.usage.outputTokens >= 2 && generating > 0 ? Math.round(((response.usage.outputTokens - 1) * 10_000) / generating) / 10 : null,
    ...(response.routeReason ? { routeReason: response.routeReason } : {}),
    ...(response.spilledAfter
      ? { spilledAfter: { entryId: response.spilledAfter.entryId, code: codeForKind(response.spilledAfter.kind), message: response.spilledAfter.message } }
      : {}),
    ...(response.incomplete ? { incomplete: { code: codeForKind(response.incomplete.kind), message: response.incomplete.message } } : {}),
  };
}
