/**
 * The egress ledger: `<data dir>/egress.jsonl`, one JSON line when a request is about to leave this
 * computer (flushed to disk before it is sent) and one when it has ended. It never holds message text:
 * only where the request went, why, its size and its outcome. A torn last line (a crash mid-write) is
 * skipped when reading; a request that began and never ended is reported as interrupted.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { EgressEntry, EgressQuery, EgressReport, EgressTotal } from '../contract/index.js';
import type { EgressHandle, EgressRecord, EgressRecorder, EgressResult } from '../core/egress.js';
import { ServiceError } from './errors.js';
import type { EventHub } from './event-hub.js';

type BeginLine = { t: 'begin' } & Omit<EgressEntry, 'endedAt' | 'outcome' | 'tokensReceived' | 'errorKind'>;
type EndLine = { t: 'end'; id: string; at: number } & Pick<EgressEntry, 'promptTokens' | 'tokensReceived'> & {
  outcome: EgressResult['outcome'];
  errorKind?: string;
};

export class EgressLedger implements EgressRecorder {
  private handle: FileHandle | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<string>();

  constructor(
    readonly path: string,
    private readonly events: EventHub,
  ) {}

  /** Appends the record and waits until it is on disk; only then may the request be sent. */
  async begin(record: EgressRecord): Promise<EgressHandle> {
    const line: BeginLine = {
      t: 'begin',
      id: randomUUID(),
      at: Date.now(),
      conversationId: record.conversationId ?? 'api',
      endpointId: record.entryId,
      endpointName: record.entryName,
      host: record.host,
      model: record.model,
      tier: record.tier,
      why: record.why,
      ...(record.after ? { after: record.after } : {}),
      bytesSent: record.bytesSent,
      promptTokens: record.promptTokens,
    };
    try {
      await this.append(line);
    } catch (error) {
      // Fail closed: a request that cannot be recorded is not sent.
      throw new ServiceError('INTERNAL', `Nothing was sent: the record of what leaves this computer could not be written (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
    }
    this.inFlight.add(line.id);
    this.events.emit('egress:update', toEntry(line, null, true));
    let ended = false;
    return {
      end: (result) => {
        if (ended) return;
        ended = true;
        const end: EndLine = { t: 'end', id: line.id, at: Date.now(), ...result };
        this.append(end)
          .catch(() => {})
          .finally(() => {
            this.inFlight.delete(line.id);
            this.events.emit('egress:update', toEntry(line, end, false));
          });
      },
    };
  }

  /** The recorded requests matching `query`, newest first, with totals per endpoint and per UTC day. */
  async list(query: EgressQuery = {}): Promise<EgressReport> {
    await this.writing;
    const entries = (await this.read()).filter(
      (e) =>
        (query.endpointId === undefined || e.endpointId === query.endpointId) &&
        (query.conversationId === undefined || e.conversationId === query.conversationId) &&
        (query.since === undefined || e.at >= query.since) &&
        (query.until === undefined || e.at < query.until),
    );
    entries.sort((a, b) => b.at - a.at);
    const byEndpoint = new Map<string, EgressTotal & { endpointId: string; host: string }>();
    const byDay = new Map<string, EgressTotal & { day: string }>();
    const total = emptyTotal();
    for (const entry of entries) {
      const endpoint = byEndpoint.get(entry.endpointId) ?? { endpointId: entry.endpointId, host: entry.host, ...emptyTotal() };
      byEndpoint.set(entry.endpointId, endpoint);
      const day = new Date(entry.at).toISOString().slice(0, 10);
      const daily = byDay.get(day) ?? { day, ...emptyTotal() };
      byDay.set(day, daily);
      for (const sum of [endpoint, daily, total]) add(sum, entry);
    }
    return { entries, byEndpoint: [...byEndpoint.values()], byDay: [...byDay.values()].sort((a, b) => b.day.localeCompare(a.day)), total };
  }

  /** Waits for pending lines and closes the file. */
  async close(): Promise<void> {
    await this.writing;
    await this.handle?.close();
    this.handle = null;
  }

  private append(line: BeginLine | EndLine): Promise<void> {
    const write = this.writing.then(async () => {
      this.handle ??= await this.openForAppend();
      await this.handle.write(`${JSON.stringify(line)}\n`);
      await this.handle.datasync();
    });
    this.writing = write.catch(() => {});
    return write;
  }

  /** Opens the file for appending; a torn last line (a crash mid-write) is ended first, so it spoils nothing after it. */
  private async openForAppend(): Promise<FileHandle> {
    const handle = await open(this.path, 'a+', 0o600);
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await handle.write('\n');
    }
    return handle;
  }

  private async read(): Promise<EgressEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const begins = new Map<string, BeginLine>();
    const ends = new Map<string, EndLine>();
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      let line: BeginLine | EndLine;
      try {
        line = JSON.parse(raw) as BeginLine | EndLine;
      } catch {
        continue; // a torn line from a crash mid-write: what it began was never sent, or its end is unknown
      }
      if (line.t === 'begin' && typeof line.id === 'string') begins.set(line.id, line);
      else if (line.t === 'end' && typeof line.id === 'string') ends.set(line.id, line);
    }
    return [...begins.values()].map((begin) => toEntry(begin, ends.get(begin.id) ?? null, this.inFlight.has(begin.id)));
  }
}

function toEntry(begin: BeginLine, end: EndLine | null, inFlight: boolean): EgressEntry {
  const { t: _t, ...fields } = begin;
  return {
    ...fields,
    endedAt: end?.at ?? null,
    promptTokens: end?.promptTokens ?? begin.promptTokens,
    tokensReceived: end?.tokensReceived ?? null,
    outcome: end ? end.outcome : inFlight ? 'in-flight' : 'interrupted',
    ...(end?.errorKind ? { errorKind: end.errorKind } : {}),
  };
}

function emptyTotal(): EgressTotal {
  return { requests: 0, bytesSent: 0, promptTokens: 0, tokensReceived: 0 };
}

function add(sum: EgressTotal, entry: EgressEntry): void {
  sum.requests++;
  sum.bytesSent += entry.bytesSent;
  sum.promptTokens += entry.promptTokens ?? 0;
  sum.tokensReceived += entry.tokensReceived ?? 0;
}
