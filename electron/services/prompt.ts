/**
 * What a model reads for a conversation: the branch shown as chat messages behind the system prompt, each
 * user message's files quoted after its text (text and code) or sent as image parts; and the answer
 * settings that apply, the conversation's own over the app's.
 */
import type { Attachment, ChatMessageRecord, ConversationSettings, Settings } from '../contract/index.js';
import type { ChatMessage, MessagePart } from '../core/types.js';

/** The answer settings for a conversation: each of its own wins over the app's. */
export function effectiveGeneration(app: Settings['generation'], own: ConversationSettings): Settings['generation'] {
  return {
    systemPrompt: own.systemPrompt ?? app.systemPrompt,
    temperature: own.temperature ?? app.temperature,
    maxTokens: own.maxTokens ?? app.maxTokens,
  };
}

/** The branch as the model reads it, behind the system prompt when there is one. */
export function promptMessages(branch: readonly ChatMessageRecord[], systemPrompt: string): ChatMessage[] {
  const messages: ChatMessage[] = branch
    .filter((m) => m.role !== 'system' && (m.content !== '' || (m.attachments?.length ?? 0) > 0))
    .map((m) => ({ role: m.role, content: contentOf(m) }));
  if (systemPrompt.trim()) messages.unshift({ role: 'system', content: systemPrompt });
  return messages;
}

/** A text or code file as a fenced block named after it, e.g. `main.py:` then ```py … ```. */
export function quoteFile(name: string, text: string): string {
  // A fence longer than any run of backticks inside, so the file cannot close it early.
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  const extension = /\.([A-Za-z0-9+#-]{1,12})$/.exec(name)?.[1]?.toLowerCase() ?? '';
  return `${name}:\n${fence}${extension}\n${text}${text.endsWith('\n') ? '' : '\n'}${fence}`;
}

/** The message's text with its text files quoted after it; with images, a list of parts. */
function contentOf(message: ChatMessageRecord): string | MessagePart[] {
  const files = message.attachments ?? [];
  const texts = files.filter((a): a is Extract<Attachment, { kind: 'text' }> => a.kind === 'text').map((a) => quoteFile(a.name, a.text));
  const text = [message.content, ...texts].filter((part) => part !== '').join('\n\n');
  const images = files.filter((a): a is Extract<Attachment, { kind: 'image' }> => a.kind === 'image');
  if (images.length === 0) return text;
  return [...(text === '' ? [] : [{ type: 'text' as const, text }]), ...images.map((image) => ({ type: 'image' as const, url: image.dataUrl }))];
}
