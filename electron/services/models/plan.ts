/**
 * Turns a download request into its record: which files, from where, how big, with which sha256. The
 * catalog's facts win; missing ones come from the Hugging Face API or a HEAD request, so the size is known
 * (and the disk space checked) before the first byte is downloaded.
 */
import { basename } from 'node:path';
import { hfEndpoint, parseModelSource, resolveSource } from './hf.js';
import { probe, type HttpContext } from './http.js';
import type { PartialRecord } from './partial-store.js';
import { sizeMismatch, withRetries, type RetryPolicy } from './transfer.js';

/** What the catalog knows about a file; the same shape as a catalog part. */
export interface ExpectedFile {
  /** The file's path in the repository (or its name); matched by name. */
  file: string;
  sizeBytes?: number;
  sha256?: string;
}

export { hfEndpoint };

/** Resolves the source and fills in every file's size and sha256 that can be known in advance. */
export async function planDownload(
  http: HttpContext,
  endpoint: string,
  request: { id: string; source: string; expected?: ExpectedFile[] },
  retry: RetryPolicy,
  signal: AbortSignal,
): Promise<PartialRecord> {
  const source = parseModelSource(request.source);
  const files = await withRetries(() => resolveSource(http, endpoint, source, signal), request.source, retry, signal);
  const expected = request.expected ?? [];
  const now = Date.now();
  const record: PartialRecord = { version: 1, id: request.id, source: request.source, createdAt: now, updatedAt: now, parts: [] };
  for (const file of files) {
    const known = expected.find((e) => basename(e.file) === file.name) ?? (files.length === 1 && expected.length === 1 ? expected[0] : undefined);
    let size = known?.sizeBytes ?? file.size;
    let sha256 = known?.sha256?.toLowerCase() ?? file.sha256;
    if (size === null || sha256 === null) {
      const facts = await withRetries(() => probe(http, new URL(file.url), signal, file.name), file.name, retry, signal);
      if (size !== null && facts.size !== null && facts.size !== size) throw sizeMismatch(file.name, size, facts.size);
      size ??= facts.size;
      sha256 ??= facts.sha256;
    }
    record.parts.push({ name: file.name, url: file.url, size, sha256, etag: null, done: 0, verified: false });
  }
  return record;
}
