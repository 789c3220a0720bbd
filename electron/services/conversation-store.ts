/**
 * Conversations on disk: one JSON file each, written atomically. The app is the only writer, so the store
 * keeps them in memory after opening and writes each conversation's changes one after another.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { AnswerMeta, ChatMessageRecord, Conversation, ConversationPin, ConversationSummary } from '../contract/index.js';
import { ServiceError } from './errors.js';

export class ConversationStore {
  private readonly conversations = new Map<string, Conversation>();
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(private readonly dir: string) {}

  /** Loads every conversation; an unreadable file is set aside and reported, never fatal. */
  static async open(dir: string, onCorrupt: (message: string) => void = () => {}): Promise<ConversationStore> {
    await mkdir(dir, { recursive: true });
    const store = new ConversationStore(dir);
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(dir, name);
      try {
        const conversation = upgrade(JSON.parse(await readFile(path, 'utf8')) as Conversation);
        store.conversations.set(conversation.id, conversation);
      } catch {
        await rename(path, `${path}.corrupt`);
        onCorrupt(`A saved conversation (${name}) could not be read and was kept as ${name}.corrupt.`);
      }
    }
    return store;
  }

  /** Most recently updated first. */
  list(): ConversationSummary[] {
    return [...this.conversations.values()].map(summarize).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  get(id: string): Conversation {
    const conversation = this.conversations.get(id);
    if (!conversation) throw new ServiceError('NOT_FOUND', `There is no conversation ${id}.`);
    return structuredClone(conversation);
  }

  async create(title = 'New conversation'): Promise<Conversation> {
    const now = Date.now();
    const conversation: Conversation = { id: randomUUID(), title, createdAt: now, updatedAt: now, messageCount: 0, pin: null, messages: [], consent: [] };
    this.conversations.set(conversation.id, conversation);
    await this.save(conversation.id);
    return structuredClone(conversation);
  }

  async rename(id: string, title: string): Promise<ConversationSummary> {
    const conversation = this.live(id);
    conversation.title = title;
    conversation.updatedAt = Date.now();
    await this.save(id);
    return summarize(conversation);
  }

  /** Pins the conversation to a strategy, a ceiling or one entry; null follows the app's routing again. */
  async setPin(id: string, pin: ConversationPin | null): Promise<ConversationSummary> {
    const conversation = this.live(id);
    conversation.pin = pin && Object.keys(pin).length > 0 ? pin : null;
    await this.save(id);
    return summarize(conversation);
  }

  /** Remembers that the person always lets this conversation go to `entryId`. */
  async allowEgress(id: string, entryId: string): Promise<void> {
    const conversation = this.live(id);
    if (conversation.consent.includes(entryId)) return;
    conversation.consent.push(entryId);
    await this.save(id);
  }

  async delete(id: string): Promise<void> {
    this.live(id);
    this.conversations.delete(id);
    await (this.writes.get(id) ?? Promise.resolve());
    await unlink(this.file(id)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Appends a message (or replaces the one with the same id) and saves. */
  async putMessage(id: string, message: ChatMessageRecord): Promise<void> {
    const conversation = this.live(id);
    const at = conversation.messages.findIndex((m) => m.id === message.id);
    if (at === -1) conversation.messages.push(message);
    else conversation.messages[at] = message;
    conversation.messageCount = conversation.messages.length;
    conversation.updatedAt = Date.now();
    await this.save(id);
  }

  /** Removes the messages after the one with `messageId` (for answering it again). */
  async truncateAfter(id: string, messageId: string): Promise<void> {
    const conversation = this.live(id);
    const at = conversation.messages.findIndex((m) => m.id === messageId);
    if (at === -1) throw new ServiceError('NOT_FOUND', `There is no message ${messageId} in conversation ${id}.`);
    conversation.messages.splice(at + 1);
    conversation.messageCount = conversation.messages.length;
    await this.save(id);
  }

  exists(id: string): boolean {
    return this.conversations.has(id);
  }

  /** Resolves once every pending write is on disk. */
  async flush(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  private live(id: string): Conversation {
    const conversation = this.conversations.get(id);
    if (!conversation) throw new ServiceError('NOT_FOUND', `There is no conversation ${id}.`);
    return conversation;
  }

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private save(id: string): Promise<void> {
    const previous = this.writes.get(id) ?? Promise.resolve();
    const write = previous.then(async () => {
      const conversation = this.conversations.get(id);
      if (conversation) await writeFileAtomic(this.file(id), JSON.stringify(conversation), { fsync: true });
    });
    const settled = write.catch(() => {});
    this.writes.set(id, settled);
    void settled.then(() => {
      if (this.writes.get(id) === settled) this.writes.delete(id);
    });
    return write;
  }
}

function summarize(c: Conversation): ConversationSummary {
  return { id: c.id, title: c.title, createdAt: c.createdAt, updatedAt: c.updatedAt, messageCount: c.messageCount, pin: c.pin };
}

/** The first build's answers said `driverId` and `source` ('local' | 'cloud') where today's say which entry. */
interface V1Meta {
  driverId?: string;
  source?: 'local' | 'cloud';
}

/** Checks a stored conversation and brings one written by an earlier version up to today's shape. */
function upgrade(raw: Conversation): Conversation {
  if (typeof raw?.id !== 'string' || !Array.isArray(raw.messages)) throw new Error('not a conversation');
  const messages = raw.messages.map((message) => {
    const meta = message.meta as (AnswerMeta & V1Meta) | undefined;
    if (!meta || meta.entryId !== undefined) return message;
    const { driverId, source, ...rest } = meta;
    const entryKind = source === 'cloud' ? 'remote' : 'local';
    const upgraded: AnswerMeta = {
      ...rest,
      entryId: driverId ?? entryKind,
      entryKind,
      entryName: entryKind === 'local' ? 'Local model' : (driverId ?? 'Cloud'),
      tier: entryKind === 'local' ? 'sovereign' : 'standard',
      ...(rest.spilledAfter ? { spilledAfter: { ...rest.spilledAfter, entryId: rest.spilledAfter.entryId ?? 'local' } } : {}),
    };
    return { ...message, meta: upgraded };
  });
  return { ...raw, messages, pin: raw.pin ?? null, consent: Array.isArray(raw.consent) ? raw.consent : [] };
}
