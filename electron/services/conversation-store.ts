/**
 * Conversations on disk: one JSON file each, written atomically. The app is the only writer, so the store
 * keeps them in memory after opening and writes each conversation's changes one after another. Every
 * message of every branch is kept (see conversation-tree.ts); a conversation shows the branch ending at
 * its current message.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type {
  AnswerMeta,
  ChatMessageRecord,
  Conversation,
  ConversationPin,
  ConversationSearchHit,
  ConversationSettings,
  ConversationSummary,
  Events,
  ExportedConversation,
  MessageNode,
} from '../contract/index.js';
import { branchPath, chain, newestLeaf, treeFault } from './conversation-tree.js';
import { ServiceError } from './errors.js';

/** The on-disk shape's version: 2 keeps every branch (the first build's files, without it, are one flat list). */
const FORMAT = 2;

/** A conversation as kept: every message of every branch, the current one, and its consent. */
export interface StoredConversation extends ExportedConversation {
  consent: string[];
}

/** What `conversations:changed` tells every window. */
export type ConversationChange = Events['conversations:changed'];

export class ConversationStore {
  private readonly conversations = new Map<string, StoredConversation>();
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(
    private readonly dir: string,
    private readonly onChange: (change: ConversationChange) => void,
  ) {}

  /**
   * Loads every conversation; an unreadable file is set aside and reported, never fatal. `onChange` hears
   * of every change made from then on (summary null: deleted), so other windows can follow.
   */
  static async open(dir: string, onCorrupt: (message: string) => void = () => {}, onChange: (change: ConversationChange) => void = () => {}): Promise<ConversationStore> {
    await mkdir(dir, { recursive: true });
    const store = new ConversationStore(dir, onChange);
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(dir, name);
      try {
        const conversation = upgrade(JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>);
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

  /** The conversation with the branch it shows. */
  get(id: string): Conversation {
    const c = this.live(id);
    return structuredClone({ ...summarize(c), messages: branchPath(c.messages, c.currentId), consent: c.consent });
  }

  /** The conversation as kept: every branch (for export and search). */
  stored(id: string): StoredConversation {
    return structuredClone(this.live(id));
  }

  /** A message of the conversation, in any branch. */
  message(id: string, messageId: string): MessageNode {
    const message = this.live(id).messages.find((m) => m.id === messageId);
    if (!message) throw new ServiceError('NOT_FOUND', `There is no message ${messageId} in this conversation.`, 'messageId');
    return structuredClone(message);
  }

  async create(title = 'New conversation'): Promise<Conversation> {
    const now = Date.now();
    const conversation: StoredConversation = { id: randomUUID(), title, createdAt: now, updatedAt: now, pin: null, settings: {}, currentId: null, messages: [], consent: [] };
    this.conversations.set(conversation.id, conversation);
    await this.save(conversation.id);
    return this.get(conversation.id);
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

  /** Replaces the conversation's own answer settings ({} follows the app's). */
  async setSettings(id: string, settings: ConversationSettings): Promise<ConversationSummary> {
    const conversation = this.live(id);
    conversation.settings = settings;
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
    this.onChange({ id, summary: null });
    await (this.writes.get(id) ?? Promise.resolve());
    await unlink(this.file(id)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /**
   * Adds a message after `parentId` (null: as a first message). When the conversation's current message
   * is that parent, the new one continues the branch shown; otherwise (the person moved to another branch
   * while it was being written) it waits in its own branch.
   */
  async append(id: string, message: ChatMessageRecord, parentId: string | null): Promise<void> {
    const conversation = this.live(id);
    if (parentId !== null && !conversation.messages.some((m) => m.id === parentId)) {
      throw new ServiceError('NOT_FOUND', `There is no message ${parentId} in conversation ${id}.`, 'messageId');
    }
    conversation.messages.push({ ...message, parentId });
    if (conversation.currentId === parentId) conversation.currentId = message.id;
    conversation.updatedAt = Date.now();
    await this.save(id);
  }

  /** Makes `messageId` (null: before the first message) the end of the branch shown, exactly. */
  async setCurrent(id: string, messageId: string | null): Promise<void> {
    const conversation = this.live(id);
    if (messageId !== null) this.message(id, messageId);
    conversation.currentId = messageId;
    await this.save(id);
  }

  /** Shows the branch through `messageId`, where it was last continued. */
  async selectBranch(id: string, messageId: string): Promise<Conversation> {
    this.message(id, messageId);
    const conversation = this.live(id);
    conversation.currentId = newestLeaf(conversation.messages, messageId);
    await this.save(id);
    return this.get(id);
  }

  /** Title matches first, then matches in any message of any branch; each group newest first. */
  search(query: string, limit = 100): ConversationSearchHit[] {
    const needle = query.trim().toLocaleLowerCase();
    const hits: ConversationSearchHit[] = [];
    for (const c of this.conversations.values()) {
      if (c.title.toLocaleLowerCase().includes(needle)) {
        hits.push({ id: c.id, title: c.title, updatedAt: c.updatedAt, matchedIn: 'title', snippet: null });
        continue;
      }
      for (const message of c.messages) {
        const text = searchableText(message);
        const at = text.toLocaleLowerCase().indexOf(needle);
        if (at === -1) continue;
        hits.push({ id: c.id, title: c.title, updatedAt: c.updatedAt, matchedIn: 'content', snippet: snippet(text, at, needle.length) });
        break;
      }
    }
    const rank = (hit: ConversationSearchHit): number => (hit.matchedIn === 'title' ? 0 : 1);
    return hits.sort((a, b) => rank(a) - rank(b) || b.updatedAt - a.updatedAt).slice(0, limit);
  }

  /**
   * Adds whole conversations, all or none: an id already taken gets a new one. If any write fails, the
   * ones already written are removed again before the error is thrown.
   */
  async importAll(conversations: readonly ExportedConversation[]): Promise<ConversationSummary[]> {
    const taken = new Set(this.conversations.keys());
    const added = conversations.map((c): StoredConversation => {
      const id = taken.has(c.id) ? randomUUID() : c.id;
      taken.add(id);
      return { ...structuredClone(c), id, consent: [] };
    });
    for (const c of added) this.conversations.set(c.id, c);
    try {
      await Promise.all(added.map((c) => this.save(c.id)));
    } catch (error) {
      for (const c of added) {
        this.conversations.delete(c.id);
        this.onChange({ id: c.id, summary: null });
      }
      await Promise.all(added.map((c) => (this.writes.get(c.id) ?? Promise.resolve()).then(() => unlink(this.file(c.id)).catch(() => {}))));
      throw error;
    }
    return added.map(summarize);
  }

  exists(id: string): boolean {
    return this.conversations.has(id);
  }

  /** Resolves once every pending write is on disk. */
  async flush(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  private live(id: string): StoredConversation {
    const conversation = this.conversations.get(id);
    if (!conversation) throw new ServiceError('NOT_FOUND', `There is no conversation ${id}.`);
    return conversation;
  }

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private save(id: string): Promise<void> {
    const changed = this.conversations.get(id);
    if (changed) this.onChange({ id, summary: summarize(changed) });
    const previous = this.writes.get(id) ?? Promise.resolve();
    const write = previous.then(async () => {
      const conversation = this.conversations.get(id);
      if (conversation) await writeFileAtomic(this.file(id), JSON.stringify({ format: FORMAT, ...conversation }), { fsync: true });
    });
    const settled = write.catch(() => {});
    this.writes.set(id, settled);
    void settled.then(() => {
      if (this.writes.get(id) === settled) this.writes.delete(id);
    });
    return write;
  }
}

function summarize(c: StoredConversation): ConversationSummary {
  return { id: c.id, title: c.title, createdAt: c.createdAt, updatedAt: c.updatedAt, messageCount: c.messages.length, pin: c.pin, settings: c.settings };
}

/** What search looks in: the message's text and its files' names and text. */
function searchableText(message: ChatMessageRecord): string {
  const files = (message.attachments ?? []).map((a) => (a.kind === 'text' ? `${a.name}\n${a.text}` : a.name));
  return [message.content, ...files].join('\n');
}

/** About 80 characters of `text` around a match, on one line. */
function snippet(text: string, at: number, length: number): string {
  const start = Math.max(0, at - 30);
  const end = Math.min(text.length, at + length + 50);
  return `${start > 0 ? '…' : ''}${text.slice(start, end).replace(/\s+/g, ' ').trim()}${end < text.length ? '…' : ''}`;
}

/** The first build's answers said `driverId` and `source` ('local' | 'cloud') where today's say which entry. */
interface V1Meta {
  driverId?: string;
  source?: 'local' | 'cloud';
}

/**
 * Checks a stored conversation and brings one written by an earlier version up to today's shape: a flat
 * list of messages (no `format`) becomes one branch, and first-build answer badges name their entry.
 */
function upgrade(raw: Record<string, unknown>): StoredConversation {
  if (typeof raw?.id !== 'string' || !Array.isArray(raw.messages)) throw new Error('not a conversation');
  const flat = raw.format === undefined;
  const messages = (raw.messages as MessageNode[]).map(upgradeMeta);
  const nodes = flat ? chain(messages) : messages;
  const currentId = flat ? (nodes.at(-1)?.id ?? null) : (raw.currentId as string | null);
  const fault = treeFault(nodes, currentId);
  if (fault) throw new Error(fault);
  const { format: _format, messageCount: _count, ...rest } = raw;
  return {
    ...(rest as unknown as StoredConversation),
    messages: nodes,
    currentId,
    pin: (raw.pin as ConversationPin | undefined) ?? null,
    settings: (raw.settings as ConversationSettings | undefined) ?? {},
    consent: Array.isArray(raw.consent) ? (raw.consent as string[]) : [],
  };
}

function upgradeMeta<M extends ChatMessageRecord>(message: M): M {
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
}
