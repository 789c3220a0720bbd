/**
 * "What left this computer", exported: the ledger entries as JSON or CSV. The entries hold no message
 * text, and neither do the exports: conversations are named by id, never by their title (a title is made
 * from the first message).
 */
import type { EgressEntry } from '../../../electron/contract/index.js';

/** Endpoint names by id, for readers who do not know the ids. */
export type EndpointNames = (endpointId: string) => string;

const COLUMNS = [
  'time', 'conversation', 'endpointId', 'endpointName', 'host', 'model', 'tier', 'why', 'after',
  'bytesSent', 'promptTokens', 'tokensReceived', 'outcome', 'errorKind', 'endedAt',
] as const;

type Row = Record<(typeof COLUMNS)[number], string | number | null>;

function toRow(entry: EgressEntry, name: EndpointNames): Row {
  return {
    time: new Date(entry.at).toISOString(),
    conversation: entry.conversationId,
    endpointId: entry.endpointId,
    endpointName: entry.endpointName ?? name(entry.endpointId),
    host: entry.host,
    model: entry.model,
    tier: entry.tier,
    why: entry.why,
    after: entry.after ?? null,
    bytesSent: entry.bytesSent,
    promptTokens: entry.promptTokens,
    tokensReceived: entry.tokensReceived,
    outcome: entry.outcome,
    errorKind: entry.errorKind ?? null,
    endedAt: entry.endedAt === null ? null : new Date(entry.endedAt).toISOString(),
  };
}

export function egressJson(entries: readonly EgressEntry[], name: EndpointNames): string {
  return `${JSON.stringify({ entries: entries.map((e) => toRow(e, name)) }, null, 2)}\n`;
}

export function egressCsv(entries: readonly EgressEntry[], name: EndpointNames): string {
  const lines = [COLUMNS.join(','), ...entries.map((e) => {
    const row = toRow(e, name);
    return COLUMNS.map((c) => csvCell(row[c])).join(',');
  })];
  return `${lines.join('\r\n')}\r\n`;
}

/** RFC 4180 quoting; text that a spreadsheet would run as a formula is prefixed with an apostrophe. */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A file name for an export made now, e.g. `spillway-egress-2026-01-31.csv`. */
export function exportFileName(extension: 'json' | 'csv', now = new Date()): string {
  return `spillway-egress-${now.toISOString().slice(0, 10)}.${extension}`;
}
