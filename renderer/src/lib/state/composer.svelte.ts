/** The message box: the text being written and the files attached to it, each checked as it is added. */
import { ATTACHMENT_LIMITS, type Attachment } from '../../../../electron/contract/index.js';
import { AttachmentError, attachmentBytes, formatSize, readAttachment } from '../attachments.js';

export class ComposerState {
  draft = $state('');
  attachments = $state<Attachment[]>([]);
  /** Why the last file could not be attached; cleared by the next change. */
  error = $state<string | null>(null);
  readonly empty = $derived(this.draft.trim() === '' && this.attachments.length === 0);

  /** Adds dropped or picked files; one that cannot be attached is left out and `error` says why. */
  async add(files: Iterable<File>): Promise<void> {
    this.error = null;
    for (const file of files) {
      if (this.attachments.length >= ATTACHMENT_LIMITS.perMessage) {
        this.error = `A message can carry ${ATTACHMENT_LIMITS.perMessage} files; ${file.name} was not attached.`;
        return;
      }
      try {
        const attachment = await readAttachment(file);
        const total = this.attachments.reduce((sum, a) => sum + attachmentBytes(a), attachmentBytes(attachment));
        if (total > ATTACHMENT_LIMITS.totalBytes) {
          throw new AttachmentError(`${file.name} would make this message's files ${formatSize(total)}; together they may be up to ${formatSize(ATTACHMENT_LIMITS.totalBytes)}.`);
        }
        this.attachments.push(attachment);
      } catch (error) {
        if (!(error instanceof AttachmentError)) throw error;
        this.error = error.message;
      }
    }
  }

  remove(index: number): void {
    this.attachments.splice(index, 1);
    this.error = null;
  }

  /** After sending: an empty box. */
  clear(): void {
    this.draft = '';
    this.attachments = [];
    this.error = null;
  }
}
