/// <reference lib="dom" />
/**
 * Files in and out of the chat, in Chromium against headless mode with real services: a text attachment
 * (and the limits), an image routed to the endpoint that reads images (and refused under Local only), a
 * conversation's own settings reaching the model, and the export → import round trip into another data
 * folder, with a file that is not an export refused and nothing imported.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { ConversationsExport } from '../../electron/contract/index.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { answers, send, setOrFail, shot, startUiHarness, type UiApp, type UiHarness } from '../fixtures/ui-harness.js';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

let models: FixtureModels;
let cloud: FakeOpenAIServer;
let ui: UiHarness;
let app: UiApp;

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: 'Seen it.', responseModel: 'vision-model' });
  ui = await startUiHarness();
  app = await ui.startApp((s) => setOrFail(s, { local: { modelPath: models.answer } }), {
    overrides: { endpoints: [endpoint(cloud.baseURL, 'vision-model', { tier: 'standard', capabilities: { images: true, tools: null, embeddings: null } })] },
  });
});

after(async () => {
  await ui?.close();
  await cloud?.close();
  models?.cleanup();
});

/** Attaches files through the message box's file picker. */
async function attach(page: Page, ...files: Array<{ name: string; mimeType: string; buffer: Buffer }>): Promise<void> {
  await page.getByTestId('attach-input').setInputFiles(files);
}

/** The content of the last message the fake endpoint was sent. */
function lastSent(): unknown {
  return cloud.chatRequests().at(-1)!.body.messages.at(-1).content;
}

describe('files in the chat, in Chromium against headless mode', () => {
  test('a text file goes into the message as a quoted block; past the size limit, or not text, it is refused saying why', async () => {
    const { page } = app;
    await page.getByRole('radio', { name: 'Cloud only' }).click();
    await page.getByRole('radio', { name: 'Cloud only', checked: true }).waitFor();

    await attach(page, { name: 'big.log', mimeType: 'text/plain', buffer: Buffer.alloc(300 * 1024, 'x') });
    const refusal = page.getByTestId('attachment-error');
    await refusal.waitFor();
    assert.equal(await refusal.textContent(), 'big.log is 300 KB; a text or code file may be up to 256 KB.');
    await attach(page, { name: 'tool.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0, 159, 146, 150, 0, 1]) });
    await refusal.getByText('tool.bin is neither a text file nor an image').waitFor();
    assert.equal(await page.getByTestId('draft-attachment').count(), 0, 'nothing was attached');

    const code = 'fn main() {\n    println!("hi");\n}\n';
    await attach(page, { name: 'main.rs', mimeType: 'text/x-rust', buffer: Buffer.from(code) });
    await page.getByTestId('draft-attachment').getByText('main.rs').waitFor();
    assert.equal(await refusal.count(), 0, 'the error is gone once a file is attached');
    await shot(page, '40-text-attached');
    const answer = await send(page, 'What does this print?');
    await answer.getByTestId('answer-badge').waitFor();
    assert.equal(lastSent(), `What does this print?\n\nmain.rs:\n\`\`\`rs\n${code}\`\`\``);
    const question = page.locator('article[data-role="user"]').last();
    assert.match((await question.getByTestId('attachment').textContent()) ?? '', /main\.rs · 34 B/);
    assert.equal(await page.getByTestId('draft-attachment').count(), 0, 'the box is empty after sending');
  });

  test('an image goes to the endpoint that reads images as an image part; under Local only it is refused, saying why', async () => {
    const { page } = app;
    await page.getByRole('radio', { name: 'Local first' }).click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await attach(page, { name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await page.getByTestId('draft-attachment').getByText('dot.png').waitFor();
    const before = cloud.chatRequests().length;
    const answer = await send(page, 'What is in this picture?');
    const badge = answer.getByTestId('answer-badge');
    await badge.waitFor();
    // The local model cannot read images: the route passes it by for the endpoint that can.
    assert.equal(await badge.getAttribute('data-entry'), 'cloud');
    assert.equal(cloud.chatRequests().length, before + 1);
    const dataUrl = `data:image/png;base64,${PNG.toString('base64')}`;
    assert.deepEqual(lastSent(), [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: dataUrl } }]);
    const shown = page.locator('article[data-role="user"]').last().getByRole('img', { name: 'dot.png' });
    assert.equal(await shown.getAttribute('src'), dataUrl);
    await shot(page, '41-image');

    await page.getByRole('radio', { name: 'Local only' }).click();
    await page.getByRole('radio', { name: 'Local only', checked: true }).waitFor();
    await attach(page, { name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    const refused = await send(page, 'And locally?');
    const error = refused.getByTestId('answer-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'UNSUPPORTED');
    assert.match((await error.textContent()) ?? '', /needs an entry that can read images, and local only allows none: The local model cannot read images/);
    assert.equal(cloud.chatRequests().length, before + 1, 'nothing was sent anywhere');
    await shot(page, '42-image-refused');
    await page.getByRole('radio', { name: 'Cloud only' }).click();
  });

  test("a conversation's own system prompt, temperature and max tokens reach the model; the app's apply elsewhere", async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await page.getByRole('button', { name: 'This conversation' }).click();
    const panel = page.getByRole('form', { name: "This conversation's settings" });
    await panel.getByLabel('System prompt').fill('Answer in French.');
    await panel.getByLabel('Temperature').fill('0.2');
    await panel.getByLabel('Max tokens').fill('64');
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.getByRole('status').getByText('Saved.').waitFor();
    await shot(page, '43-conversation-settings');
    const answer = await send(page, 'Bonjour?');
    await answer.getByTestId('answer-badge').waitFor();
    const body = cloud.chatRequests().at(-1)!.body;
    assert.deepEqual(body.messages[0], { role: 'system', content: 'Answer in French.' });
    assert.equal(body.temperature, 0.2);
    assert.equal(body.max_tokens, 64);

    // Another conversation follows the app.
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    assert.equal(await panel.getByLabel('System prompt').inputValue(), '', 'the panel shows the new conversation’s own (none)');
    await send(page, 'Hello?').then((a) => a.getByTestId('answer-badge').waitFor());
    const other = cloud.chatRequests().at(-1)!.body;
    assert.equal(other.messages[0].role, 'user', 'no system prompt');
    assert.equal(other.temperature, 0.7);
    assert.equal(other.max_tokens, undefined);
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  test('export all as JSON → import into another data folder: nothing lost; a file that is not an export is refused and nothing imported', async () => {
    const { page, services } = app;
    // A second version of an answer, so the export has a branch to keep.
    cloud.setReply('Seen it again.');
    await answers(page).last().getByRole('button', { name: 'Regenerate' }).click();
    await answers(page).last().getByTestId('branch-count').getByText('2/2').waitFor();

    await page.getByRole('button', { name: 'Export & import' }).click();
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'All as JSON' }).click()]);
    assert.match(json.suggestedFilename(), /^spillway-conversations-\d{4}-\d{2}-\d{2}\.json$/);
    const file = await readFile((await json.path())!, 'utf8');
    const exported = JSON.parse(file) as ConversationsExport;
    const list = await services.call('conversations:list', {});
    assert.ok(list.ok);
    assert.equal(exported.conversations.length, list.value.length);
    assert.ok(exported.conversations.some((c) => c.messages.some((m) => m.attachments?.some((a) => a.kind === 'image'))), 'the image is in it');
    await page.getByRole('status').getByText(/Saved spillway-conversations-/).waitFor();

    const [markdown] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Open conversation as Markdown' }).click()]);
    assert.match(markdown.suggestedFilename(), /^spillway-hello-\d{4}-\d{2}-\d{2}\.md$/);
    const md = await readFile((await markdown.path())!, 'utf8');
    assert.match(md, /^# Hello\?\n\n## You\n\nHello\?\n\n## Test cloud · vision-model\n\nSeen it again\.\n\n\*Answered by Test cloud \(vision-model\), on the internet\*\n\n\*Version 2 of 2/);

    // Another app, another data folder: import the file through its page.
    const other = await ui.startApp();
    await other.page.getByRole('button', { name: 'Export & import' }).click();
    await other.page.getByTestId('import-input').setInputFiles({ name: json.suggestedFilename(), mimeType: 'application/json', buffer: Buffer.from(file) });
    await other.page.getByRole('status').getByText(`Imported ${exported.conversations.length} conversations from ${json.suggestedFilename()}.`).waitFor();
    assert.equal(await other.page.locator('aside .list li').count(), exported.conversations.length);
    const again = await other.services.call('conversations:export', { format: 'json' });
    assert.ok(again.ok);
    assert.deepEqual((JSON.parse(again.value.content) as ConversationsExport).conversations, exported.conversations, 'the round trip loses nothing');
    await shot(other.page, '44-imported');

    // The imported conversation opens with its branch and its image.
    await other.page.locator('aside .list').getByRole('button', { name: 'What is in this picture?', exact: true }).click();
    await other.page.locator('article[data-role="user"]').first().getByRole('img', { name: 'dot.png' }).waitFor();

    // Not an export: refused with the reason, and nothing imported.
    const before = await other.services.call('conversations:list', {});
    await other.page.getByTestId('import-input').setInputFiles({ name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('{"title": "my notes", "messages": []}') });
    const refusal = other.page.getByTestId('archive-error');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /Nothing was imported: it is not a Spillway conversations export/);
    const broken = structuredClone(exported);
    broken.conversations.at(-1)!.messages[0]!.parentId = 'missing';
    await other.page.getByTestId('import-input').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(broken)) });
    await refusal.getByText(/follows "missing", which is not there/).waitFor();
    await shot(other.page, '45-import-refused');
    assert.deepEqual(await other.services.call('conversations:list', {}), before, 'nothing was imported half-way');
  });
});
