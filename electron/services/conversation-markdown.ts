/**
 * A conversation as Markdown for people to read: the branch it shows, who answered each message, and its
 * files quoted. Only the JSON export keeps every branch and every image; the Markdown says where it leaves
 * something out.
 */
import type { AnswerMeta, ConversationSettings, ExportedConversation, PrivacyTier } from '../contract/index.js';
import { branchPath } from './conversation-tree.js';
import { quoteFile } from './prompt.js';

const WHERE: Record<PrivacyTier, string> = {
  sovereign: 'on this computer',
  private: 'on the local network',
  standard: 'on the internet',
};

/** One conversation as a Markdown document. */
export function conversationMarkdown(conversation: ExportedConversation): string {
  const lines = [`# ${oneLine(conversation.title)}`, ''];
  const own = ownSettings(conversation.settings);
  if (own) lines.push(`> This conversation's own settings: ${own}`, '');
  for (const message of branchPath(conversation.messages, conversation.currentId)) {
    lines.push(`## ${message.role === 'user' ? 'You' : message.role === 'system' ? 'System' : answerer(message.meta)}`, '');
    if (message.content !== '') lines.push(message.content, '');
    for (const file of message.attachments ?? []) {
      lines.push(file.kind === 'text' ? quoteFile(file.name, file.text) : `*Image: ${oneLine(file.name)} (kept in the JSON export)*`, '');
    }
    if (message.meta) lines.push(`*${answeredBy(message.meta)}*`, '');
    if (message.branch) lines.push(`*Version ${message.branch.index + 1} of ${message.branch.ids.length}; the JSON export keeps every version.*`, '');
  }
  return lines.join('\n').trimEnd();
}

function answerer(meta: AnswerMeta | undefined): string {
  return meta ? `${oneLine(meta.entryName)} · ${oneLine(meta.model)}` : 'Answer';
}

function answeredBy(meta: AnswerMeta): string {
  const notes = [
    meta.spilledAfter ? `after ${meta.spilledAfter.entryId} failed (${oneLine(meta.spilledAfter.message)})` : null,
    meta.stopReason === 'aborted' ? 'stopped before the end' : null,
    meta.stopReason === 'length' ? 'cut at the length limit' : null,
    meta.incomplete ? `incomplete: ${oneLine(meta.incomplete.message)}` : null,
  ].filter((note) => note !== null);
  return [`Answered by ${oneLine(meta.entryName)} (${oneLine(meta.model)}), ${WHERE[meta.tier]}`, ...notes].join('; ');
}

function ownSettings(settings: ConversationSettings): string {
  return [
    settings.systemPrompt !== undefined ? `system prompt “${oneLine(settings.systemPrompt)}”` : null,
    settings.temperature !== undefined ? `temperature ${settings.temperature}` : null,
    settings.maxTokens !== undefined ? `at most ${settings.maxTokens} tokens` : null,
  ].filter((part) => part !== null).join(', ');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
