/** Export of one conversation or all (Markdown or JSON) to a file, and import of a JSON export. */
import { IMPORT_LIMIT_BYTES, type AppError, type ExportFile, type ExportFormat, type SpillwayApi } from '../../../../electron/contract/index.js';
import { downloadText } from '../download.js';
import type { ChatState } from './chat.svelte.js';

export class ArchiveState {
  /** What the last export or import did, for a status line. */
  status = $state<string | null>(null);
  error = $state<AppError | null>(null);

  constructor(
    private readonly api: SpillwayApi,
    private readonly chat: ChatState,
    private readonly save: (file: ExportFile) => void = (file) => downloadText(file.content, file.fileName, file.mimeType),
  ) {}

  /** Exports the conversation open (`active`) or every conversation. */
  async export(scope: 'active' | 'all', format: ExportFormat): Promise<void> {
    const id = this.chat.activeId;
    if (scope === 'active' && id === null) return;
    const result = await this.api.conversationsExport({ format, ...(scope === 'active' ? { ids: [id!] } : {}) });
    if (!result.ok) {
      this.settle(result.error);
      return;
    }
    this.save(result.value);
    this.settle(null, `Saved ${result.value.fileName}.`);
  }

  /** Imports a JSON export; nothing is imported when any of it is wrong, and `error` says what. */
  async import(file: File): Promise<void> {
    if (file.size > IMPORT_LIMIT_BYTES) {
      this.settle({ code: 'INVALID_ARGUMENT', message: `Nothing was imported: ${file.name} is larger than ${IMPORT_LIMIT_BYTES / 1024 / 1024} MB.`, retryable: false });
      return;
    }
    const result = await this.api.conversationsImport({ content: await file.text() });
    if (!result.ok) {
      this.settle(result.error);
      return;
    }
    const count = result.value.imported.length;
    this.settle(null, `Imported ${count} conversation${count === 1 ? '' : 's'} from ${file.name}.`);
    await this.chat.load();
  }

  dismiss(): void {
    this.settle(null);
  }

  private settle(error: AppError | null, status: string | null = null): void {
    this.error = error;
    this.status = status;
  }
}
