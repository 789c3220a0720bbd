/**
 * Conversations out and back in: a Markdown file to read, or a JSON file that keeps every branch, every
 * file and who answered each message, which imports back with nothing lost. An import is checked whole
 * before anything is stored, and is stored whole or not at all.
 */
import { z } from 'zod';
import {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ConversationsExport,
  type ConversationSummary,
  type ExportedConversation,
  type ExportFile,
  type ExportFormat,
} from '../contract/index.js';
import { conversationMarkdown } from './conversation-markdown.js';
import type { ConversationStore } from './conversation-store.js';
import { treeFault } from './conversation-tree.js';
import { ServiceError } from './errors.js';
import { attachmentsSchema, conversationSettingsSchema, idSchema, pinSchema, tierSchema } from './schemas.js';

const count = z.number().int().min(0);
const time = z.number().int().min(0);
const code = z.string().regex(/^[A-Z_]{1,40}$/, 'must be an error code');
const text = (max: number) => z.string().max(max);

/** An answer's badge. Loose: a field this version does not show is kept, never dropped. */
const metaSchema = z.looseObject({
  entryId: z.string().min(1).max(100),
  entryKind: z.enum(['local', 'remote']),
  entryName: text(200),
  model: text(500),
  tier: tierSchema,
  stopReason: z.string().min(1).max(40),
  usage: z.looseObject({ inputTokens: count, outputTokens: count, cachedInputTokens: count.optional() }),
  timeToFirstTokenMs: z.number().min(0).nullable(),
  totalMs: z.number().min(0),
  tokensPerSecond: z.number().min(0).nullable(),
  routeReason: text(5000).optional(),
  spilledAfter: z.looseObject({ entryId: z.string().min(1).max(100), code, message: text(5000) }).optional(),
  incomplete: z.looseObject({ code, message: text(5000) }).optional(),
});

const messageSchema = z.strictObject({
  id: idSchema,
  parentId: idSchema.nullable(),
  role: z.enum(['system', 'user', 'assistant']),
  content: text(1_000_000),
  createdAt: time,
  meta: metaSchema.optional(),
  attachments: attachmentsSchema.optional(),
});

const conversationSchema = z
  .strictObject({
    id: idSchema,
    title: z.string().min(1).max(200),
    createdAt: time,
    updatedAt: time,
    pin: pinSchema.nullable(),
    settings: conversationSettingsSchema,
    currentId: idSchema.nullable(),
    messages: z.array(messageSchema).max(100_000),
  })
  .superRefine((c, ctx) => {
    const fault = treeFault(c.messages, c.currentId);
    if (fault) ctx.addIssue({ code: 'custom', message: fault, path: ['messages'] });
  });

/** The JSON export file, as `conversations:import` accepts it. */
export const exportFileSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  exportedAt: time,
  conversations: z.array(conversationSchema).max(100_000),
});

export class ConversationArchive {
  constructor(private readonly store: ConversationStore) {}

  /** Some conversations (all when `ids` is absent) as a file to save. */
  export(ids: readonly string[] | undefined, format: ExportFormat, now = new Date()): ExportFile {
    const conversations = (ids ?? this.store.list().map((c) => c.id)).map((id): ExportedConversation => {
      // Consent stays behind: a file must never let a conversation leave this computer.
      const { consent: _consent, ...conversation } = this.store.stored(id);
      return conversation;
    });
    const day = now.toISOString().slice(0, 10);
    const name = ids?.length === 1 ? `spillway-${slug(conversations[0]!.title)}-${day}` : `spillway-conversations-${day}`;
    if (format === 'markdown') {
      return { fileName: `${name}.md`, mimeType: 'text/markdown', content: `${conversations.map(conversationMarkdown).join('\n\n---\n\n')}\n` };
    }
    const file: ConversationsExport = { format: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: now.getTime(), conversations };
    return { fileName: `${name}.json`, mimeType: 'application/json', content: `${JSON.stringify(file, null, 2)}\n` };
  }

  /** Imports a JSON export whole; on any fault nothing is stored and the error says what is wrong. */
  async import(content: string): Promise<{ imported: ConversationSummary[] }> {
    const file = parseExport(content);
    return { imported: await this.store.importAll(file.conversations as ExportedConversation[]) };
  }
}

/** Checks a file's text; every refusal names what is wrong and says that nothing was imported. */
export function parseExport(content: string): z.infer<typeof exportFileSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(content);
  } catch (error) {
    throw refuse(`it is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const format = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).format : undefined;
  if (format !== EXPORT_FORMAT) throw refuse(`it is not a Spillway conversations export (it has no "format": "${EXPORT_FORMAT}"). Export conversations as JSON from Spillway, then import that file`);
  const version = (raw as Record<string, unknown>).version;
  if (version !== EXPORT_VERSION) throw refuse(`it is an export of version ${JSON.stringify(version)}, and this Spillway reads version ${EXPORT_VERSION}`);
  const result = exportFileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.map(String).join('.');
    throw refuse(`${where ? `${where}: ` : ''}${issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue.message}`);
  }
  return result.data;
}

function refuse(why: string): ServiceError {
  return new ServiceError('INVALID_ARGUMENT', `Nothing was imported: ${why}.`, 'content');
}

/** A title as part of a file name. */
function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'conversation';
}
