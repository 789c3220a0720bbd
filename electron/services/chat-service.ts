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
  type ChannelRequest,
  type ChannelResponse,
  type ChatMessageRecord,
  type ConsentChoice,
  type ConversationPin,
  type ConversationSummary,
  type Result,
} from '../contract/index.js';
import { DeltaBatcher } from '../core/delta-batcher.js';
import type { ConsentAsk, ConsentHook } from '../core/egress.js';
import type { RouteOptions } from '../core/router.js';
import type { ChatMessage, CompletionResponse } from '../core/types.js';
import type { ConversationStore } from './conversation-store.js';
import { fail, ok, ServiceError } from './errors.js';
import type { EventHub } from './event-hub.js';
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
    const messages: ChatMessage[] = conversation.messages
      .filter((m) => m.role !== 'system' && m.content !== '')
      .map((m) => ({ role: m.role, content: m.content }));
    if (settings.generation.systemPrompt.trim()) messages.unshift({ role: 'system', content: settings.generation.systemPrompt });
    const batcher = new DeltaBatcher((text) => this.events.emit('chat:delta', { requestId, conversationId, text }), DELTA_INTERVAL_MS);
    const maxTokens = options.maxTokens ?? settings.generation.maxTokens ?? undefined;
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
          temperature: options.temperature ?? settings.generation.temperature,
          ...(maxTokens === undefined ? {} : { maxTokens }),
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          onText: (text) => batcher.push(text),
        },
        route,
      );
      batcher.flush();
      const message: ChatMessageRecord = { id: randomUUID(), role: 'assistant', content: response.text, createdAt: Date.now(), meta: this.metaFor(response) };
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

function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || 'New conversation';
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
