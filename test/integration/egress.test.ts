/**
 * The egress ledger, as a person checking what left their computer would rely on it: every request to an
 * endpoint off this machine is on disk before the endpoint sees a byte, completed after, never holds
 * message text, survives a SIGKILL at the moment of sending, and reads back past a torn last line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Events } from '../../electron/contract/index.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { EgressLedger } from '../../electron/services/egress-ledger.js';
import { EventHub } from '../../electron/services/event-hub.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';

const SECRET = 'my bank password is hunter2';
let cloud: FakeOpenAIServer;
const dirs: string[] = [];
const open: Services[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-egress-'));
  dirs.push(dir);
  return dir;
}

/** Ledger lines as they are on disk. */
function lines(dir: string): Array<Record<string, unknown>> {
  return readFileSync(join(dir, 'egress.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

async function services(dir: string, extra: Parameters<typeof endpoint>[2] = { tier: 'standard' }): Promise<Services> {
  const s = await createServices({
    dataDir: dir,
    mode: 'headless',
    version: 'test',
    secrets: new MemorySecretStore(),
    overrides: { routing: { strategy: 'cloud-only' }, endpoints: [endpoint(cloud.baseURL, 'cloud-model', extra)] },
  });
  open.push(s);
  return s;
}

function nextDone(s: Services): Promise<Events['chat:done']> {
  return new Promise((resolve) => {
    const off = s.on('chat:done', (done) => {
      off();
      resolve(done);
    });
  });
}

before(async () => {
  cloud = await startFakeOpenAI({ reply: 'Noted.' });
});
beforeEach(() => cloud.reset());
after(async () => {
  await Promise.all(open.map((s) => s.shutdown()));
  await cloud.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the egress ledger', { timeout: 30_000 }, () => {
  test('a chat sent off this computer is on disk before the endpoint sees it, completed after, and holds no text', async () => {
    const dir = dataDir();
    const s = await services(dir);
    let atArrival: Array<Record<string, unknown>> = [];
    cloud.setFaultHandler(() => {
      atArrival = lines(dir);
      return undefined;
    });
    const done = nextDone(s);
    const sent = await s.call('chat:send', { content: SECRET });
    assert.ok(sent.ok);
    assert.ok((await done).result.ok);

    assert.equal(atArrival.length, 1, 'exactly the begin record was on disk when the request arrived');
    assert.equal(atArrival[0]!.t, 'begin');
    assert.equal(atArrival[0]!.endpointId, 'cloud');
    const report = await s.call('egress:list', {});
    assert.ok(report.ok);
    const [entry] = report.value.entries;
    assert.ok(entry);
    assert.equal(entry.conversationId, sent.value.conversationId);
    assert.equal(entry.endpointId, 'cloud');
    assert.equal(entry.endpointName, 'Test cloud');
    assert.equal(entry.host, new URL(cloud.baseURL).host);
    assert.equal(entry.model, 'cloud-model');
    assert.equal(entry.tier, 'standard');
    assert.equal(entry.why, 'cloud-only');
    assert.equal(entry.outcome, 'success');
    assert.ok(entry.endedAt !== null && entry.endedAt >= entry.at);
    assert.equal(entry.tokensReceived, 'Noted.'.split(' ').length);
    assert.ok((entry.promptTokens ?? 0) > 0, 'the prompt tokens the endpoint counted');
    assert.equal(entry.bytesSent, Buffer.byteLength(JSON.stringify(cloud.chatRequests()[0]!.body)), 'the exact size of the body sent');
    assert.deepEqual(report.value.total, { requests: 1, bytesSent: entry.bytesSent, promptTokens: entry.promptTokens, tokensReceived: entry.tokensReceived });
    assert.ok(!readFileSync(join(dir, 'egress.jsonl'), 'utf8').includes('hunter2'), 'message contents are never recorded');
  });

  test('nothing is recorded for an endpoint on this computer', async () => {
    const dir = dataDir();
    const s = await services(dir, {});
    const done = nextDone(s);
    await s.call('chat:send', { content: 'Hello' });
    assert.ok((await done).result.ok);
    const report = await s.call('egress:list', {});
    assert.ok(report.ok);
    assert.deepEqual(report.value.entries, []);
  });

  test('a record that cannot be written stops the request: nothing is sent', async () => {
    const dir = dataDir();
    mkdirSync(join(dir, 'egress.jsonl')); // a folder where the file should be
    const s = await services(dir);
    const done = nextDone(s);
    await s.call('chat:send', { content: SECRET });
    const result = (await done).result;
    assert.ok(!result.ok);
    assert.match(result.error.message, /Nothing was sent: the record of what leaves this computer could not be written/);
    assert.equal(cloud.chatRequests().length, 0);
  });

  test('intact after a SIGKILL at the moment of sending: the request reads back as interrupted', async () => {
    const dir = dataDir();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../fixtures/egress-child.ts', import.meta.url)), dir, cloud.baseURL], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    let atArrival: Array<Record<string, unknown>> = [];
    cloud.setFaultHandler(() => {
      atArrival = lines(dir);
      child.kill('SIGKILL');
      return 'hang';
    });
    assert.equal(await exited, 'SIGKILL', `the child was killed by the test, not by a failure: ${stderr}`);
    assert.equal(cloud.chatRequests().length, 1);
    assert.equal(atArrival.length, 1);

    const ledger = new EgressLedger(join(dir, 'egress.jsonl'), new EventHub());
    const { entries } = await ledger.list();
    assert.equal(entries.length, 1);
    assert.deepEqual(
      { ...entries[0], id: 'x', at: 0 },
      {
        id: 'x',
        at: 0,
        conversationId: 'api',
        endpointId: 'cloud',
        endpointName: 'Test cloud',
        host: new URL(cloud.baseURL).host,
        model: 'crash-model',
        tier: 'standard',
        why: 'cloud-only',
        bytesSent: Buffer.byteLength(JSON.stringify(cloud.chatRequests()[0]!.body)),
        promptTokens: null,
        endedAt: null,
        tokensReceived: null,
        outcome: 'interrupted',
      },
    );
    assert.ok(!readFileSync(join(dir, 'egress.jsonl'), 'utf8').includes('never reach the ledger'));
  });

  test('a torn last line is skipped; filters and totals per endpoint and per day', async () => {
    const dir = dataDir();
    const file = join(dir, 'egress.jsonl');
    const day1 = Date.UTC(2026, 10, 28, 10);
    const day2 = Date.UTC(2026, 10, 29, 10);
    const begin = (id: string, at: number, endpointId: string, conversationId = 'c1') =>
      JSON.stringify({ t: 'begin', id, at, conversationId, endpointId, host: `${endpointId}.example`, model: 'm', tier: 'standard', why: 'spillover', after: 'timeout', bytesSent: 100, promptTokens: 10 });
    const end = (id: string, at: number, outcome = 'success') => JSON.stringify({ t: 'end', id, at, outcome, promptTokens: 12, tokensReceived: 5 });
    writeFileSync(file, [begin('a', day1, 'openai'), end('a', day1 + 5), begin('b', day2, 'openai', 'api'), end('b', day2 + 5), begin('c', day2 + 10, 'groq'), ''].join('\n'));
    appendFileSync(file, '{"t":"end","id":"c","at":'); // the crash came mid-write

    const ledger = new EgressLedger(file, new EventHub());
    const all = await ledger.list();
    assert.deepEqual(all.entries.map((e) => [e.id, e.outcome]), [['c', 'interrupted'], ['b', 'success'], ['a', 'success']]);
    assert.equal(all.entries.find((e) => e.id === 'a')?.after, 'timeout');
    assert.deepEqual(all.total, { requests: 3, bytesSent: 300, promptTokens: 34, tokensReceived: 10 });
    assert.deepEqual(all.byEndpoint.map((t) => [t.endpointId, t.requests, t.tokensReceived]).sort(), [['groq', 1, 0], ['openai', 2, 10]]);
    assert.deepEqual(all.byDay.map((t) => [t.day, t.requests]), [['2026-11-29', 2], ['2026-11-28', 1]]);

    assert.deepEqual((await ledger.list({ endpointId: 'openai' })).entries.map((e) => e.id), ['b', 'a']);
    assert.deepEqual((await ledger.list({ conversationId: 'api' })).entries.map((e) => e.id), ['b']);
    assert.deepEqual((await ledger.list({ since: day2, until: day2 + 6 })).entries.map((e) => e.id), ['b']);

    // New records go after the torn line and read back whole.
    const handle = await ledger.begin({ entryId: 'groq', entryName: 'Groq', host: 'groq.example', model: 'm', tier: 'standard', why: 'cloud-first', bytesSent: 7, promptTokens: null });
    handle.end({ outcome: 'failure', promptTokens: null, tokensReceived: null, errorKind: 'network' });
    await ledger.close();
    const reread = await new EgressLedger(file, new EventHub()).list({ endpointId: 'groq' });
    assert.deepEqual(reread.entries.map((e) => [e.why, e.outcome, e.errorKind ?? null]), [['cloud-first', 'failure', 'network'], ['spillover', 'interrupted', null]]);
  });
});
