/**
 * Conversations as callers see them: messages and the branches edits and regenerated answers make,
 * attachments, a conversation's own answer settings, search, and the export file. Plain types and
 * constants only.
 */
import type { ErrorCode } from './errors.js';
import type { ConversationPin, EntryKind, PrivacyTier, StopReason, Usage } from './routing.js';

/** Sampling options a chat message may carry. */
export interface GenerationOptions {
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

/** How an assistant message came to be: shown as the badge under it. */
export interface AnswerMeta {
  /** The entry of the route that answered. */
  entryId: string;
  entryKind: EntryKind;
  entryName: string;
  model: string;
  tier: PrivacyTier;
  stopReason: StopReason;
  usage: Usage;
  timeToFirstTokenMs: number | null;
  totalMs: number;
  tokensPerSecond: number | null;
  routeReason?: string;
  /** Set when the router spilled over: the entry before, and why it could not answer. */
  spilledAfter?: { entryId: string; code: ErrorCode; message: string };
  /** Set when the answer was cut off mid-stream. */
  incomplete?: { code: ErrorCode; message: string };
}

// ------------------------------------------------------------------------------------------ attachments

/** Image types a message may carry (what OpenAI-compatible vision endpoints accept). */
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;

export type ImageType = (typeof IMAGE_TYPES)[number];

/** How much a message may carry; the renderer says so before sending, the services refuse past it. */
export const ATTACHMENT_LIMITS = {
  /** Files attached to one message. */
  perMessage: 8,
  /** One text or code file, in bytes of UTF-8. */
  textBytes: 256 * 1024,
  /** One image, in bytes. */
  imageBytes: 5 * 1024 * 1024,
  /** Every file of one message together, in bytes. */
  totalBytes: 20 * 1024 * 1024,
} as const;

/** A text or code file: sent to the model as a quoted block after the message's text. */
export interface TextAttachment {
  kind: 'text';
  /** The file's name, e.g. `main.py` (it names the block and its language). */
  name: string;
  text: string;
}

/** An image: sent as an image part, so only an entry that can read images answers. */
export interface ImageAttachment {
  kind: 'image';
  name: string;
  mimeType: ImageType;
  /** `data:<mimeType>;base64,…` */
  dataUrl: string;
}

export type Attachment = TextAttachment | ImageAttachment;

// --------------------------------------------------------------------------------------------- messages

export interface ChatMessageRecord {
  id: string;
  role: 'system' | 'user' | 'assistant';
  /** The text as written (Markdown for answers); attachments are kept apart. */
  content: string;
  /** Epoch milliseconds. */
  createdAt: number;
  meta?: AnswerMeta;
  /** Files sent with a user message. */
  attachments?: Attachment[];
}

/** The versions of one turn: an edited message beside the original, regenerated answers beside the first. */
export interface BranchInfo {
  /** This message's place among them (0-based, oldest first). */
  index: number;
  /** Every version's message id, oldest first. */
  ids: string[];
}

/** A message of the branch a conversation shows, with the other versions of its turn when there are any. */
export interface ConversationMessage extends ChatMessageRecord {
  /** Present when this turn has more than one version (‹ 2/3 ›). */
  branch?: BranchInfo;
}

/** A conversation's own answer settings; each one absent follows the app's (Settings → General). */
export interface ConversationSettings {
  systemPrompt?: string;
  temperature?: number;
  maxTokens?: number;
}

export interface ConversationSummary {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  /** Messages stored, in every branch. */
  messageCount: number;
  /** This conversation's own strategy, ceiling or entry; null follows the app's. */
  pin: ConversationPin | null;
  /** This conversation's own system prompt, temperature and max tokens. */
  settings: ConversationSettings;
}

export interface Conversation extends ConversationSummary {
  /** The branch shown and continued, first message first. */
  messages: ConversationMessage[];
  /** Endpoints the person chose to always send this conversation to. */
  consent: string[];
}

/** A conversation found by `conversations:search`. */
export interface ConversationSearchHit {
  id: string;
  title: string;
  updatedAt: number;
  /** Where the query was found: the title, or the text of a message (any branch). */
  matchedIn: 'title' | 'content';
  /** The words around the first match in a message; null when only the title matched. */
  snippet: string | null;
}

// ------------------------------------------------------------------------------------------- export file

/** `format` of a conversations export: what `conversations:import` accepts. */
export const EXPORT_FORMAT = 'spillway.conversations';
export const EXPORT_VERSION = 1;

/** A message and the one it follows: how a conversation keeps its branches, on disk and in exports. */
export interface MessageNode extends ChatMessageRecord {
  /** The message this one follows; null for a first message. */
  parentId: string | null;
}

/**
 * One conversation as exported. Consent ("always send this conversation to …") is left out on purpose:
 * a file must never be able to let a conversation leave this computer.
 */
export interface ExportedConversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  pin: ConversationPin | null;
  settings: ConversationSettings;
  /** The last message of the branch shown; null for an empty conversation. */
  currentId: string | null;
  /** Every message of every branch. */
  messages: MessageNode[];
}

/** The JSON export file: one conversation or all, with every branch, and who answered each message. */
export interface ConversationsExport {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  /** Epoch milliseconds. */
  exportedAt: number;
  conversations: ExportedConversation[];
}

export type ExportFormat = 'json' | 'markdown';

/** The largest export file `conversations:import` takes, in bytes. */
export const IMPORT_LIMIT_BYTES = 64 * 1024 * 1024;

/** A file for the person to save. */
export interface ExportFile {
  fileName: string;
  mimeType: string;
  content: string;
}
