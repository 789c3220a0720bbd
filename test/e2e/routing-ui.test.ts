/// <reference lib="dom" />
/**
 * Routing v2 in the UI, in Chromium against headless mode with real services: the per-conversation pin,
 * "ask before anything leaves this computer", the "What left this computer" ledger with its exports, and
 * the endpoints of Settings. The local engine is the generated test model; the endpoint is a fake
 * OpenAI-compatible server on 127.0.0.1, declared standard so it counts as leaving the computer.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { writeEmbeddingModel } from '../fixtures/embedding-model.js';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { send, setOrFail, shot, startUiHarness, type UiApp, type UiHarness } from '../fixtures/ui-harness.js';

const CLOUD_REPLY = 'Hello from the cloud.';

let models: FixtureModels;
let cloud: FakeOpenAIServer;
let ui: UiHarness;
let app: UiApp;

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: CLOUD_REPLY, responseModel: 'cloud-model' });
  ui = await startUiHarness();
  app = await ui.startApp((s) => setOrFail(s, { local: { modelPath: models.answer } }), {
    overrides: { endpoints: [endpoint(cloud.baseURL, 'cloud-model', { tier: 'standard' })] },
  });
});

after(async () => {
  await ui?.close();
  await cloud?.close();
  models?.cleanup();
});


/** Sends and waits for the answer's badge; returns who answered (local | remote). */
async function answered(page: Page, text: string): Promise<string | null> {
  const answer = await send(page, text);
  const badge = answer.getByTestId('answer-badge');
  await badge.waitFor();
  return badge.getAttribute('data-kind');
}

describe('routing v2 in Chromium', () => {
  test('a conversation pinned to Local only is answered locally while the app is on Cloud only; unpinning restores Cloud only', async () => {
    const { page } = app;
    await page.getByRole('radio', { name: 'Cloud only' }).click();
    await page.getByRole('radio', { name: 'Cloud only', checked: true }).waitFor();
    const next = page.getByTestId('next-entry');
    await next.getByText('Test cloud').waitFor();

    // Pinning a conversation not started yet starts it.
    await page.getByRole('button', { name: 'This conversation' }).click();
    await page.getByLabel('Pin this conversation to a strategy').selectOption({ label: 'Local only' });
    const chip = page.getByTestId('pin-chip');
    await chip.waitFor();
    assert.match((await chip.textContent()) ?? '', /Pinned: Local only/);
    await next.getByText('Local model').waitFor();
    assert.match((await next.innerText()) ?? '', /Next answer: Local model · answer/);
    await shot(page, '20-pinned');

    const before = cloud.chatRequests().length;
    assert.equal(await answered(page, 'Stay with me here'), 'local');
    assert.equal((await page.locator('article[data-role="assistant"]').last().locator('.md').textContent())?.trim(), ANSWER);
    assert.equal(cloud.chatRequests().length, before, 'the endpoint received nothing');
    assert.equal(await page.getByRole('radio', { name: 'Cloud only' }).getAttribute('aria-checked'), 'true', 'the app stays on Cloud only');

    await chip.getByRole('button', { name: 'Unpin' }).click();
    await chip.waitFor({ state: 'detached' });
    await next.getByText('Test cloud').waitFor();
    assert.equal(await answered(page, 'And now?'), 'remote');
    assert.equal(cloud.chatRequests().length, before + 1);
  });

  test('asking before anything leaves: nothing is sent until "Send once"; "Keep it here" and Esc send nothing; "Always" stops asking; another window can answer', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('tab', { name: 'Routing' }).click();
    await page.getByLabel('Ask me before anything leaves this computer').check();
    await page.getByRole('button', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).first().click();

    const dialog = page.getByRole('dialog');
    const sent = cloud.chatRequests().length;
    const answer = await send(page, 'A question for the cloud');
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute('aria-modal'), 'true');
    const text = (await dialog.textContent()) ?? '';
    assert.match(text, /Test cloud/);
    assert.match(text, new RegExp(`127\\.0\\.0\\.1:${cloud.port}`));
    assert.match(text, /cloud-model/);
    assert.match(text, /on the internet/);
    assert.match(text, /Cloud only is selected/);
    assert.ok(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), 'focus moved into the dialog');
    await page.waitForTimeout(300);
    assert.equal(cloud.chatRequests().length, sent, 'nothing reached the endpoint while the dialog is open');
    await shot(page, '21-consent');
    await dialog.getByRole('button', { name: 'Send once' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await answer.getByTestId('answer-badge').waitFor();
    assert.equal((await answer.locator('.md').textContent())?.trim(), CLOUD_REPLY);
    assert.equal(cloud.chatRequests().length, sent + 1);

    // Once means once: the next message asks again. "Keep it here" sends nothing.
    const kept = await send(page, 'Another one');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Keep it here' }).click();
    const refusal = kept.getByTestId('answer-error');
    await refusal.waitFor();
    assert.equal(await refusal.getAttribute('data-code'), 'PRIVACY_BLOCKED');
    assert.match((await refusal.textContent()) ?? '', /keep this conversation on this computer/);
    assert.equal(cloud.chatRequests().length, sent + 1, '"Keep it here" sent nothing');

    // Esc is "Keep it here" too.
    const escaped = await send(page, 'And Esc?');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await escaped.getByTestId('answer-error').waitFor();
    assert.equal(cloud.chatRequests().length, sent + 1, 'Esc sent nothing');

    const always = await send(page, 'Always for this one');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Always for this conversation' }).click();
    await always.getByTestId('answer-badge').waitFor();
    const quiet = await send(page, 'No more questions');
    await quiet.getByTestId('answer-badge').waitFor();
    assert.equal(await dialog.isVisible(), false, 'not asked again for this conversation');
    assert.equal(cloud.chatRequests().length, sent + 3);

    // Another conversation is asked again, in every window; answered in one, the question closes in all.
    const second = await page.context().newPage();
    await second.goto(app.server.url);
    await second.getByRole('radio', { name: 'Cloud only', checked: true }).waitFor();
    await page.getByRole('button', { name: 'New conversation', exact: true }).first().click();
    const other = await send(page, 'A different conversation');
    await dialog.waitFor();
    const elsewhere = second.getByRole('dialog');
    await elsewhere.waitFor();
    await elsewhere.getByRole('button', { name: 'Send once' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await other.getByTestId('answer-badge').waitFor();
    assert.equal(cloud.chatRequests().length, sent + 4);
    await second.close();

    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('tab', { name: 'Routing' }).click();
    await page.getByLabel('Ask me before anything leaves this computer').uncheck();
    await page.getByRole('button', { name: 'Chat' }).click();
  });

  test('"What left this computer" lists each request with its endpoint, why and outcome, totals them, and exports them', async () => {
    const { page, services } = app;
    const report = await services.call('egress:list', {});
    assert.ok(report.ok);
    const total = report.value.total.requests;
    assert.equal(total, cloud.chatRequests().length, 'the ledger recorded every request the endpoint received');

    await page.getByRole('button', { name: 'What left' }).click();
    const rows = page.getByTestId('egress-entry');
    await rows.first().waitFor();
    assert.equal(await rows.count(), total);
    const newest = (await rows.first().textContent()) ?? '';
    assert.match(newest, /A different conversation/);
    assert.match(newest, /Test cloud/);
    assert.match(newest, /Cloud only/);
    assert.match(newest, /Answered/);
    const overall = page.getByTestId('egress-total');
    assert.match((await overall.textContent()) ?? '', new RegExp(`^All${total}`));
    assert.match((await page.getByTestId('egress-endpoint-total').textContent()) ?? '', new RegExp(`Test cloud.*${total}`));
    await shot(page, '22-what-left');

    const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    assert.match(json.suggestedFilename(), /^spillway-egress-\d{4}-\d{2}-\d{2}\.json$/);
    const exported = JSON.parse(await readFile((await json.path())!, 'utf8')) as { entries: Array<Record<string, unknown>> };
    assert.equal(exported.entries.length, total);
    assert.equal(exported.entries[0]!.endpointName, 'Test cloud');
    assert.equal(exported.entries[0]!.why, 'cloud-only');
    assert.equal(exported.entries[0]!.outcome, 'success');

    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const lines = (await readFile((await csv.path())!, 'utf8')).trim().split('\r\n');
    assert.equal(lines.length, total + 1);
    assert.match(lines[0]!, /^time,conversation,endpointId,endpointName,host/);
    assert.match(lines[1]!, /,cloud,Test cloud,127\.0\.0\.1:\d+,cloud-model,standard,cloud-only,/);
    for (const file of [exported, lines]) assert.doesNotMatch(JSON.stringify(file), /A different conversation|Hello from the cloud/, 'no message text is exported');

    // Filters: no request came through the API.
    await page.getByLabel('Conversation').selectOption({ label: 'API' });
    await page.getByText('Nothing has left this computer that matches these filters.').waitFor();
    await page.getByLabel('Conversation').selectOption({ label: 'All' });
    await rows.first().waitFor();
    await page.getByRole('button', { name: 'Chat' }).click();
  });

  test('Settings → Endpoints: add one from a preset, move it up, test it, set its key (never shown again), remove it', async () => {
    const { page, services } = app;
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('tab', { name: 'Endpoints' }).click();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('form', { name: 'Add endpoint' });
    await form.getByLabel('Preset').selectOption({ label: 'LM Studio' });
    assert.equal(await form.getByLabel('Name').inputValue(), 'LM Studio');
    assert.equal(await form.getByLabel('Base URL').inputValue(), 'http://127.0.0.1:1234/v1');
    // This LM Studio listens on another port.
    await form.getByLabel('Base URL').fill(cloud.baseURL);
    await form.getByLabel('Model').fill('fake-model');
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await form.waitFor({ state: 'detached' });

    const list = page.getByTestId('endpoint');
    const order = () => list.evaluateAll((items) => items.map((i) => i.getAttribute('data-id')));
    assert.deepEqual(await order(), ['cloud', 'lm-studio']);
    await page.getByRole('button', { name: 'Move LM Studio up' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="endpoint"]')?.getAttribute('data-id') === 'lm-studio');
    assert.deepEqual(await order(), ['lm-studio', 'cloud']);
    const stored = await services.call('settings:get', {});
    assert.ok(stored.ok);
    assert.deepEqual(stored.value.endpoints.map((e) => e.id), ['lm-studio', 'cloud'], 'the new order is saved');

    const lm = page.locator('[data-testid="endpoint"][data-id="lm-studio"]');
    await lm.getByRole('button', { name: 'Test LM Studio' }).click();
    const result = lm.getByTestId('endpoint-test');
    await result.waitFor();
    assert.match(await result.innerText(), /Answered in \d+ ms · 2 models \(fake-model, fake-model-large\)/);

    const secret = 'sk-never-shown-again-4711';
    await lm.getByLabel('API key for LM Studio').fill(secret);
    await lm.getByRole('button', { name: 'Save key' }).click();
    await lm.getByTestId('key-state').getByText('key set').waitFor();
    assert.equal(await lm.getByLabel('API key for LM Studio').inputValue(), '', 'the field is cleared once the key is saved');
    assert.ok(!(await page.content()).includes(secret), 'the page never shows the key again');
    await shot(page, '23-endpoints');

    await lm.getByRole('button', { name: 'Remove LM Studio', exact: true }).click();
    await lm.getByRole('button', { name: 'Remove LM Studio and its key' }).click();
    await lm.waitFor({ state: 'detached' });
    assert.deepEqual(await order(), ['cloud']);
    const after = await services.call('settings:get', {});
    assert.ok(after.ok);
    assert.deepEqual(after.value.endpoints.map((e) => e.id), ['cloud']);
    assert.deepEqual(after.value.endpointKeys, [], 'its key went with it');
  });
  test('Settings → Local engine: requests at once and the embedding model are saved, applied and checked', async () => {
    const { page, services } = app;
    const embedder = writeEmbeddingModel(join(models.dir, 'ui-embedder.gguf'));
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('tab', { name: 'Local engine' }).click();
    const parallel = page.getByLabel('Requests at once');
    await parallel.fill('0');
    await page.getByRole('button', { name: 'Save local engine' }).click();
    // The browser refuses the form itself: the field says 1 to 16.
    assert.equal(await parallel.evaluate((el) => (el as HTMLInputElement).validity.rangeUnderflow), true);
    const unchanged = await services.call('settings:get', {});
    assert.ok(unchanged.ok);
    assert.equal(unchanged.value.local.parallel, null, 'a refused value is not stored');

    await parallel.fill('2');
    await page.getByLabel('Embedding model (.gguf)').fill(embedder);
    await page.getByRole('button', { name: 'Save local engine' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    const stored = await services.call('settings:get', {});
    assert.ok(stored.ok);
    assert.equal(stored.value.local.parallel, 2);
    assert.equal(stored.value.local.embeddingModelPath, embedder);
    // The engine restarts with two sequences, and says so.
    await page.getByText(/Current: 2; what this machine/).waitFor({ timeout: 30_000 });
    await page.getByTestId('engine-state').getByText('ready').waitFor({ timeout: 30_000 });

    await parallel.fill('');
    await page.getByLabel('Embedding model (.gguf)').fill('');
    await page.getByRole('button', { name: 'Save local engine' }).click();
    let reset: unknown = undefined;
    for (let i = 0; i < 100; i++) {
      const now = await services.call('settings:get', {});
      assert.ok(now.ok);
      reset = [now.value.local.parallel, now.value.local.embeddingModelPath ?? null];
      if (now.value.local.parallel === null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(reset, [null, null], 'empty fields go back to the defaults');
    await page.getByRole('button', { name: 'Chat' }).click();
  });
});
