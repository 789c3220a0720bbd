/**
 * Conversations through the services: branches from regenerating and editing, files written by the first
 * build, a conversation's own settings, attachments routed by what they need, search, and export and
 * import. The endpoint is a fake OpenAI-compatible server, so each test can see what a model was sent.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelResponse, ConversationsExport, Events, Result, SettingsPatch } from '../../electron/contract/index.js';
import { startServer } from '../../electron/server/http-server.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { MemorySecretStore } from '../../electron/services/secret-store.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { makeFixtureModels, type FixtureModels } from '../fixtures/models.js';

let cloud: FakeOpenAIServer;
let models: FixtureModels;
const dirs: string[] = [];
const open: Services[] = [];

/** A 1×1 PNG. */
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spillway-conversations-'));
  dirs.push(dir);
  return dir;
}

/** Services whose route is the fake cloud only (unless `patch` says otherwise). */
async function services(patch: SettingsPatch = {}, dir = dataDir()): Promise<Services> {
  const s = await createServices({
    dataDir: dir, mode: 'headless', version: 'test', secrets: new MemorySecretStore(),
    overrides: { endpoints: [endpoint(cloud.baseURL, 'cloud-model')], routing: { strategy: 'cloud-only' }, ...patch },
  });
  open.push(s);
  return s;
}

async function call<C extends Channel>(s: Services, channel: C, request: unknown): Promise<ChannelResponse<C>> {
  const result = await s.call(channel, request);
  if (!result.ok) assert.fail(`${channel}: ${result.error.code} ${result.error.message}`);
  return result.value;
}

/** Starts an answer with `channel` and resolves with its `chat:done` result. */
async function answer<C extends 'chat:send' | 'chat:retry' | 'chat:edit'>(s: Services, channel: C, request: unknown): Promise<{ started: ChannelResponse<C>; result: Events['chat:done']['result'] }> {
  const done = new Promise<Events['chat:done']>((resolve) => {
    const off = s.on('chat:done', (p) => {
      off();
      resolve(p);
    });
  });
  const started = await call(s, channel, request);
  return { started, result: (await done).result };
}

/** The texts of the conversation's branch shown, e.g. `user:Hi`, `assistant:One`. */
async function shown(s: Services, id: string): Promise<string[]> {
  return (await call(s, 'conversations:get', { id })).messages.map((m) => `${m.role}:${m.content}`);
}

/** What the fake cloud was last sent, as `role:text` lines. */
function lastPrompt(): string[] {
  const body = cloud.chatRequests().at(-1)!.body as { messages: Array<{ role: string; content: unknown }> };
  return body.messages.map((m) => `${m.role}:${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`);
}

function refused(result: Result<unknown>, code: string, pattern: RegExp): void {
  assert.ok(!result.ok, 'expected a refusal');
  assert.equal(result.error.code, code);
  assert.match(result.error.message, pattern);
}

before(async () => {
  cloud = await startFakeOpenAI({ reply: 'First answer.', responseModel: 'cloud-model' });
  models = makeFixtureModels();
});
after(async () => {
  await Promise.all(open.map((s) => s.shutdown()));
  await cloud.close();
  models.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('branches', () => {
  test('regenerate keeps the earlier answer reachable; the conversation continues from the branch chosen', async () => {
    const s = await services();
    cloud.setReply('First answer.');
    const { started } = await answer(s, 'chat:send', { content: 'Question' });
    const id = started.conversationId;
    const first = (await call(s, 'conversations:get', { id })).messages[1]!;

    cloud.setReply('Second answer.');
    const again = await answer(s, 'chat:retry', { conversationId: id, messageId: first.id });
    assert.ok(again.result.ok);
    assert.deepEqual(lastPrompt(), ['user:Question'], 'the model saw the turn, not the earlier answer');
    const regenerated = await call(s, 'conversations:get', { id });
    assert.deepEqual(regenerated.messages.map((m) => m.content), ['Question', 'Second answer.']);
    assert.deepEqual(regenerated.messages[1]!.branch, { index: 1, ids: [first.id, again.result.value.id] });
    assert.equal(regenerated.messages[0]!.branch, undefined, 'the question has one version');
    assert.equal(regenerated.messageCount, 3);

    // Back to the first answer, and on from there.
    const back = await call(s, 'conversations:selectBranch', { id, messageId: first.id });
    assert.deepEqual(back.messages.map((m) => m.content), ['Question', 'First answer.']);
    assert.equal(back.messages[1]!.branch?.index, 0);
    cloud.setReply('Third answer.');
    await answer(s, 'chat:send', { conversationId: id, content: 'Follow-up' });
    assert.deepEqual(lastPrompt(), ['user:Question', 'assistant:First answer.', 'user:Follow-up']);
    assert.deepEqual(await shown(s, id), ['user:Question', 'assistant:First answer.', 'user:Follow-up', 'assistant:Third answer.']);

    // The second answer's branch has no follow-up; coming back to the first finds where it was continued.
    await call(s, 'conversations:selectBranch', { id, messageId: again.result.value.id });
    assert.deepEqual(await shown(s, id), ['user:Question', 'assistant:Second answer.']);
    await call(s, 'conversations:selectBranch', { id, messageId: first.id });
    assert.deepEqual(await shown(s, id), ['user:Question', 'assistant:First answer.', 'user:Follow-up', 'assistant:Third answer.']);
  });

  test('editing a message sends the edit as a new branch; the original and its answers stay reachable', async () => {
    const s = await services();
    cloud.setReply('About cats.');
    const { started } = await answer(s, 'chat:send', { content: 'Tell me about cats' });
    const id = started.conversationId;
    await answer(s, 'chat:send', { conversationId: id, content: 'More' });

    cloud.setReply('About dogs.');
    const edited = await answer(s, 'chat:edit', { conversationId: id, messageId: started.userMessageId, content: 'Tell me about dogs' });
    assert.ok(edited.result.ok);
    assert.deepEqual(lastPrompt(), ['user:Tell me about dogs'], 'the model saw the edit only');
    const conversation = await call(s, 'conversations:get', { id });
    assert.deepEqual(conversation.messages.map((m) => m.content), ['Tell me about dogs', 'About dogs.']);
    assert.deepEqual(conversation.messages[0]!.branch, { index: 1, ids: [started.userMessageId, edited.started.userMessageId] });

    await call(s, 'conversations:selectBranch', { id, messageId: started.userMessageId });
    assert.deepEqual(await shown(s, id), ['user:Tell me about cats', 'assistant:About cats.', 'user:More', 'assistant:About cats.']);

    const notYours = await s.call('chat:edit', { conversationId: id, messageId: conversation.messages[1]!.id, content: 'x' });
    refused(notYours, 'INVALID_ARGUMENT', /Only your own messages/);
    const unknown = await s.call('conversations:selectBranch', { id, messageId: 'no-such-message' });
    refused(unknown, 'NOT_FOUND', /no message/);
  });

  test('while a conversation is being answered, its branches stay as they are', async () => {
    const s = await services();
    cloud.setReply('First answer.');
    cloud.failNext({ kind: 'slow', delayMs: 100 });
    const done = new Promise<void>((resolve) => s.on('chat:done', () => resolve()));
    const sent = await call(s, 'chat:send', { content: 'Slowly' });
    refused(await s.call('chat:retry', { conversationId: sent.conversationId }), 'BUSY', /still being answered/);
    refused(await s.call('chat:edit', { conversationId: sent.conversationId, messageId: sent.userMessageId, content: 'x' }), 'BUSY', /still being answered/);
    refused(await s.call('chat:send', { conversationId: sent.conversationId, content: 'y' }), 'BUSY', /still being answered/);
    await done;
    assert.deepEqual(await shown(s, sent.conversationId), ['user:Slowly', 'assistant:First answer.']);
  });

  test('a conversation saved by the first build (one flat list) opens with nothing lost, continues, and is saved as a tree', async () => {
    const dir = dataDir();
    mkdirSync(join(dir, 'conversations'));
    const flat = {
      id: 'first-build', title: 'Old one', createdAt: 1_700_000_000_000, updatedAt: 1_700_000_100_000, messageCount: 4,
      messages: [
        { id: 'u1', role: 'user', content: 'Hello', createdAt: 1_700_000_000_000 },
        { id: 'a1', role: 'assistant', content: 'Hi!', createdAt: 1_700_000_001_000,
          meta: { driverId: 'local', source: 'local', model: 'old-model', stopReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 }, timeToFirstTokenMs: 5, totalMs: 9, tokensPerSecond: null } },
        { id: 'u2', role: 'user', content: 'And?', createdAt: 1_700_000_002_000 },
        { id: 'a2', role: 'assistant', content: 'That is all.', createdAt: 1_700_000_003_000 },
      ],
    };
    writeFileSync(join(dir, 'conversations', 'first-build.json'), JSON.stringify(flat));
    const s = await services({}, dir);
    const opened = await call(s, 'conversations:get', { id: 'first-build' });
    assert.deepEqual(opened.messages.map((m) => [m.id, m.role, m.content, m.createdAt]), flat.messages.map((m) => [m.id, m.role, m.content, m.createdAt]));
    assert.equal(opened.messages[1]!.meta?.entryId, 'local');
    assert.equal(opened.messages[1]!.meta?.model, 'old-model');
    assert.equal(opened.title, 'Old one');
    assert.deepEqual(opened.settings, {});

    cloud.setReply('New answer.');
    await answer(s, 'chat:send', { conversationId: 'first-build', content: 'Still there?' });
    assert.deepEqual(lastPrompt(), ['user:Hello', 'assistant:Hi!', 'user:And?', 'assistant:That is all.', 'user:Still there?']);
    await s.shutdown();
    const saved = JSON.parse(readFileSync(join(dir, 'conversations', 'first-build.json'), 'utf8'));
    assert.equal(saved.format, 2);
    assert.deepEqual(saved.messages.slice(0, 4).map((m: { id: string; parentId: string | null }) => [m.id, m.parentId]), [['u1', null], ['a1', 'u1'], ['u2', 'a1'], ['a2', 'u2']]);
    const again = await services({}, dir);
    assert.equal((await call(again, 'conversations:get', { id: 'first-build' })).messages.length, 6);
  });
});

describe("a conversation's own settings", () => {
  test('its system prompt, temperature and max tokens win over the app’s; one left out follows the app’s', async () => {
    const s = await services({ generation: { systemPrompt: 'App prompt', temperature: 0.7, maxTokens: 500 } });
    const created = await call(s, 'conversations:create', {});
    const set = await call(s, 'conversations:setSettings', { id: created.id, settings: { systemPrompt: 'Answer like a pirate', temperature: 0.1 } });
    assert.deepEqual(set.settings, { systemPrompt: 'Answer like a pirate', temperature: 0.1 });
    await answer(s, 'chat:send', { conversationId: created.id, content: 'Ahoy' });
    const body = cloud.chatRequests().at(-1)!.body;
    assert.deepEqual(body.messages[0], { role: 'system', content: 'Answer like a pirate' });
    assert.equal(body.temperature, 0.1);
    assert.equal(body.max_tokens, 500, 'max tokens follows the app');

    await call(s, 'conversations:setSettings', { id: created.id, settings: { maxTokens: 3 } });
    await answer(s, 'chat:send', { conversationId: created.id, content: 'Again' });
    const next = cloud.chatRequests().at(-1)!.body;
    assert.deepEqual(next.messages[0], { role: 'system', content: 'App prompt' });
    assert.equal(next.temperature, 0.7);
    assert.equal(next.max_tokens, 3);

    refused(await s.call('conversations:setSettings', { id: created.id, settings: { temperature: 3 } }), 'INVALID_ARGUMENT', /settings\.temperature/);
    refused(await s.call('conversations:setSettings', { id: created.id, settings: { colour: 'red' } }), 'INVALID_ARGUMENT', /colour/);
  });
});

describe('attachments', () => {
  test('a text file is quoted after the message for the model, and kept with the message', async () => {
    const s = await services();
    const code = 'def hello():\n    return "```"\n';
    const { started } = await answer(s, 'chat:send', { content: 'What does this do?', attachments: [{ kind: 'text', name: 'hello.py', text: code }] });
    assert.deepEqual(lastPrompt(), [`user:What does this do?\n\nhello.py:\n\`\`\`\`py\n${code}\`\`\`\``]);
    const stored = (await call(s, 'conversations:get', { id: started.conversationId })).messages[0]!;
    assert.equal(stored.content, 'What does this do?');
    assert.deepEqual(stored.attachments, [{ kind: 'text', name: 'hello.py', text: code }]);
  });

  test('files past the limits are refused naming the file and the limit, and nothing is stored', async () => {
    const s = await services();
    const big = await s.call('chat:send', { content: 'Read this', attachments: [{ kind: 'text', name: 'big.txt', text: 'x'.repeat(256 * 1024 + 1) }] });
    refused(big, 'INVALID_ARGUMENT', /attachments\.0\.text: a text file may be up to 256 KB/);
    const fake = await s.call('chat:send', { content: 'Look', attachments: [{ kind: 'image', name: 'a.png', mimeType: 'image/png', dataUrl: 'https://example.com/a.png' }] });
    refused(fake, 'INVALID_ARGUMENT', /attachments\.0\.dataUrl: must be a base64 data: URL/);
    const many = await s.call('chat:send', { content: 'Many', attachments: Array.from({ length: 9 }, (_, i) => ({ kind: 'text', name: `${i}.txt`, text: 'x' })) });
    refused(many, 'INVALID_ARGUMENT', /at most 8 files/);
    assert.deepEqual(await call(s, 'conversations:list', {}), []);
  });

  test('an image goes to an endpoint that reads images, as an image part; under Local only it is refused, naming why', async () => {
    const s = await services({
      local: { modelPath: models.answer },
      routing: { strategy: 'local-first' },
      endpoints: [endpoint(cloud.baseURL, 'vision-model', { capabilities: { images: true, tools: null, embeddings: null } })],
    });
    const before = cloud.chatRequests().length;
    const { started, result } = await answer(s, 'chat:send', { content: 'What is in this picture?', attachments: [{ kind: 'image', name: 'dot.png', mimeType: 'image/png', dataUrl: PNG }] });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.value.meta?.entryId, 'cloud', 'the local model cannot read images');
    assert.equal(cloud.chatRequests().length, before + 1);
    const sent = cloud.chatRequests().at(-1)!.body.messages.at(-1);
    assert.deepEqual(sent.content, [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: PNG } }]);
    const stored = (await call(s, 'conversations:get', { id: started.conversationId })).messages[0]!;
    assert.deepEqual(stored.attachments, [{ kind: 'image', name: 'dot.png', mimeType: 'image/png', dataUrl: PNG }]);

    await call(s, 'router:setStrategy', { strategy: 'local-only' });
    const local = await answer(s, 'chat:send', { content: 'And this one?', attachments: [{ kind: 'image', name: 'dot.png', mimeType: 'image/png', dataUrl: PNG }] });
    assert.ok(!local.result.ok);
    assert.equal(local.result.error.code, 'UNSUPPORTED');
    assert.match(local.result.error.message, /read images, and local only allows none: The local model cannot read images/);
    assert.equal(cloud.chatRequests().length, before + 1, 'nothing was sent');
  });

  test('a message whose files are larger than an ordinary request still reaches /api', async () => {
    const s = await services();
    const server = await startServer({ services: s, host: '127.0.0.1', port: 0 });
    try {
      // Three images of 4 MB: 16 MB of base64, past the 10 MB an ordinary request may be.
      const image = `data:image/png;base64,${Buffer.alloc(4 * 1024 * 1024, 7).toString('base64')}`;
      const attachments = [1, 2, 3].map((n) => ({ kind: 'image', name: `${n}.png`, mimeType: 'image/png', dataUrl: image }));
      const response = await fetch(`${server.url}/api/chat:send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'Three pictures', attachments }) });
      const result = (await response.json()) as Result<{ conversationId: string }>;
      assert.equal(response.status, 200, JSON.stringify(result).slice(0, 300));
      assert.ok(result.ok);
    } finally {
      await server.close();
    }
  });
});

describe('search', () => {
  test('finds conversations by title and by the text of any message in any branch, title matches first', async () => {
    const s = await services();
    cloud.setReply('Penguins live in the south.');
    const a = (await answer(s, 'chat:send', { content: 'Where do penguins live?' })).started.conversationId;
    await call(s, 'conversations:rename', { id: a, title: 'Birds of the south' });
    cloud.setReply('Nothing about birds.');
    const b = (await answer(s, 'chat:send', { content: 'Tell me a story' })).started.conversationId;
    await call(s, 'conversations:rename', { id: b, title: 'Penguin story' });
    // A word only in an answer that is no longer shown.
    cloud.setReply('An albatross flies far.');
    const c = (await answer(s, 'chat:send', { content: 'Big birds?' })).started.conversationId;
    const first = (await call(s, 'conversations:get', { id: c })).messages[1]!;
    cloud.setReply('Condors are big.');
    await answer(s, 'chat:retry', { conversationId: c, messageId: first.id });

    const penguin = await call(s, 'conversations:search', { query: 'PENGUIN' });
    assert.deepEqual(penguin.map((h) => [h.id, h.matchedIn]), [[b, 'title'], [a, 'content']]);
    assert.match(penguin[1]!.snippet ?? '', /penguins live/i);
    const albatross = await call(s, 'conversations:search', { query: 'albatross' });
    assert.deepEqual(albatross.map((h) => h.id), [c]);
    assert.deepEqual(await call(s, 'conversations:search', { query: 'giraffe' }), []);
    refused(await s.call('conversations:search', { query: '  ' }), 'INVALID_ARGUMENT', /query: must not be empty/);
  });
});

describe('export and import', () => {
  /** Two conversations: one with an edit, a regenerated answer, a file and settings of its own. */
  async function populated(): Promise<{ s: Services; ids: string[] }> {
    const s = await services();
    cloud.setReply('One.');
    const { started } = await answer(s, 'chat:send', { content: 'First question', attachments: [{ kind: 'text', name: 'notes.md', text: '# Notes\n' }, { kind: 'image', name: 'dot.png', mimeType: 'image/png', dataUrl: PNG }] });
    const id = started.conversationId;
    await call(s, 'conversations:setSettings', { id, settings: { systemPrompt: 'Be brief', maxTokens: 100 } });
    await call(s, 'conversations:setPin', { id, pin: { strategy: 'cloud-only' } });
    cloud.setReply('Two.');
    await answer(s, 'chat:retry', { conversationId: id });
    await answer(s, 'chat:edit', { conversationId: id, messageId: started.userMessageId, content: 'First question, edited' });
    const other = (await answer(s, 'chat:send', { content: 'Another conversation' })).started.conversationId;
    return { s, ids: [id, other] };
  }

  test('a JSON export of all imports into another data folder with nothing lost, every branch included', async () => {
    const { s, ids } = await populated();
    const file = await call(s, 'conversations:export', { format: 'json' });
    assert.match(file.fileName, /^spillway-conversations-\d{4}-\d{2}-\d{2}\.json$/);
    assert.equal(file.mimeType, 'application/json');
    const exported = JSON.parse(file.content) as ConversationsExport;
    assert.equal(exported.format, 'spillway.conversations');
    assert.deepEqual(exported.conversations.map((c) => c.id).sort(), [...ids].sort());
    const tree = exported.conversations.find((c) => c.id === ids[0])!;
    assert.equal(tree.messages.length, 5, 'both questions, all three answers');
    assert.ok(tree.messages.every((m) => m.role === 'user' || m.meta?.entryId === 'cloud'), 'each answer says who answered');
    assert.ok(!('consent' in tree), 'consent is never exported');

    const elsewhere = await services();
    const imported = await call(elsewhere, 'conversations:import', { content: file.content });
    assert.deepEqual(imported.imported.map((c) => c.id).sort(), [...ids].sort());
    const again = JSON.parse((await call(elsewhere, 'conversations:export', { format: 'json' })).content) as ConversationsExport;
    assert.deepEqual(again.conversations, exported.conversations, 'the round trip loses nothing');
    for (const id of ids) assert.deepEqual(await call(elsewhere, 'conversations:get', { id }), await call(s, 'conversations:get', { id }));

    // Imported where they already are: copies with ids of their own, the originals untouched.
    const copies = await call(s, 'conversations:import', { content: file.content });
    assert.equal(copies.imported.length, 2);
    assert.ok(copies.imported.every((c) => !ids.includes(c.id)));
    assert.equal((await call(s, 'conversations:list', {})).length, 4);
  });

  test('one conversation as Markdown: the branch shown, who answered, its files, and what only JSON keeps', async () => {
    const { s, ids } = await populated();
    const file = await call(s, 'conversations:export', { ids: [ids[0]], format: 'markdown' });
    assert.match(file.fileName, /^spillway-first-question-\d{4}-\d{2}-\d{2}\.md$/);
    assert.equal(file.mimeType, 'text/markdown');
    const md = file.content;
    assert.match(md, /^# First question\n/);
    assert.match(md, /This conversation's own settings: system prompt “Be brief”, at most 100 tokens/);
    assert.match(md, /## You\n\nFirst question, edited\n/);
    assert.match(md, /notes\.md:\n```md\n# Notes\n```/);
    assert.match(md, /\*Image: dot\.png \(kept in the JSON export\)\*/);
    assert.match(md, /## Test cloud · cloud-model\n\nTwo\.\n\n\*Answered by Test cloud \(cloud-model\), on this computer\*/);
    assert.match(md, /Version 2 of 2; the JSON export keeps every version/);
    assert.doesNotMatch(md, /Another conversation/);
  });

  test('a file that is not an export is refused saying why, and nothing is imported', async () => {
    const { s } = await populated();
    const before = await call(s, 'conversations:list', {});
    const good = JSON.parse((await call(s, 'conversations:export', { format: 'json' })).content) as ConversationsExport;
    const broken = structuredClone(good);
    broken.conversations[1]!.messages[0]!.parentId = 'nowhere';
    const cases: Array<[string, RegExp]> = [
      ['{ this is not json', /Nothing was imported: it is not JSON/],
      [JSON.stringify({ hello: 'world' }), /Nothing was imported: it is not a Spillway conversations export/],
      [JSON.stringify([1, 2, 3]), /not a Spillway conversations export/],
      [JSON.stringify({ ...good, version: 7 }), /export of version 7, and this Spillway reads version 1/],
      // The first conversation is fine; the second is not, so neither is imported.
      [JSON.stringify(broken), /conversations\.1\.messages: message ".*" follows "nowhere", which is not there/],
      [JSON.stringify({ ...good, conversations: [{ ...good.conversations[0], messages: [{ ...good.conversations[0]!.messages[0], role: 'robot' }] }] }), /conversations\.0\.messages\.0\.role/],
    ];
    for (const [content, message] of cases) {
      const result = await s.call('conversations:import', { content });
      refused(result, 'INVALID_ARGUMENT', message);
      assert.equal(!result.ok && result.error.field, 'content');
    }
    assert.deepEqual(await call(s, 'conversations:list', {}), before);
  });

  test('when the disk refuses one conversation of an import, the ones written before it are removed again', async () => {
    const { s } = await populated();
    const file = JSON.parse((await call(s, 'conversations:export', { format: 'json' })).content) as ConversationsExport;
    const dir = dataDir();
    const target = await services({}, dir);
    // A folder where the second conversation's file must go: its write fails.
    const [first, second] = file.conversations;
    mkdirSync(join(dir, 'conversations', `${second!.id}.json`));
    const result = await target.call('conversations:import', { content: JSON.stringify(file) });
    assert.ok(!result.ok);
    assert.deepEqual(await call(target, 'conversations:list', {}), []);
    assert.equal(existsSync(join(dir, 'conversations', `${first!.id}.json`)), false, 'the first one was removed again');
    assert.deepEqual(readdirSync(join(dir, 'conversations')).filter((name) => !name.startsWith(second!.id)), []);
  });
});

describe('every window follows', () => {
  test('a rename, a pin, a new message and a deletion each tell every window the conversation as it now is', async () => {
    const s = await services();
    const changes: Array<Events['conversations:changed']> = [];
    const off = s.on('conversations:changed', (change) => changes.push(change));
    const { id } = await call(s, 'conversations:create', {});
    await call(s, 'conversations:rename', { id, title: 'Trip' });
    await call(s, 'conversations:setPin', { id, pin: { strategy: 'local-only' } });
    await call(s, 'conversations:setPin', { id, pin: null });
    await answer(s, 'chat:send', { conversationId: id, content: 'Hi' });
    await call(s, 'conversations:delete', { id });
    off();
    assert.ok(changes.every((c) => c.id === id), 'only this conversation changed');
    assert.equal(changes.at(-1)?.summary, null, 'the last change is its deletion');
    const summaries = changes.flatMap((c) => (c.summary ? [c.summary] : []));
    assert.ok(summaries.some((c) => c.title === 'Trip' && c.pin === null), 'the rename was told');
    assert.ok(summaries.some((c) => c.title === 'Trip' && c.pin?.strategy === 'local-only'), 'the pin was told');
    assert.ok(summaries.some((c) => c.messageCount === 2), 'the answered message was told');
  });
});
