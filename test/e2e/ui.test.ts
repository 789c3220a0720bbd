/// <reference lib="dom" />
/**
 * The UI end to end in Debian's Chromium against headless mode: real services, the generated test model
 * as the local engine, and an OpenAI-compatible test server on 127.0.0.1 as the endpoint. Screenshots of
 * each state go to test-results/e2e/ (not committed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { buildBigramModel } from '../fixtures/gguf-writer.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { startRangeServer } from '../fixtures/range-server.js';
import { TEST_FILE, TEST_REPO, writeTestCatalog } from '../fixtures/test-catalog.js';
import { answers, headerIsOneRow, lastAnswer, send, setOrFail, shot, startUiHarness, type UiApp, type UiHarness } from '../fixtures/ui-harness.js';

const CLOUD_REPLY = 'Hello from the cloud.';

let models: FixtureModels;
let cloud: FakeOpenAIServer;
let ui: UiHarness;

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: CLOUD_REPLY, responseModel: 'cloud-model' });
  ui = await startUiHarness();
});

after(async () => {
  await ui?.close();
  await cloud?.close();
  models?.cleanup();
});

describe('the UI in Chromium against headless mode', () => {
  test('a new user with nothing set up is offered the two ways to start', async () => {
    const { page } = await ui.startApp();
    await page.getByTestId('first-run').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Set up a cloud endpoint' }).isVisible());
    assert.ok(await page.getByLabel('Path to a .gguf file').isVisible());
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'fits 1024 px without horizontal scrolling');
    const { oneRow, detail } = await headerIsOneRow(page);
    assert.ok(oneRow, `the header stays one row at 1024 px: ${detail}`);
    await shot(page, '01-first-run');
    // The cloud path opens Settings → Endpoints with the form to add one.
    await page.getByRole('button', { name: 'Set up a cloud endpoint' }).click();
    assert.equal(await page.getByRole('tab', { name: 'Endpoints' }).getAttribute('aria-selected'), 'true');
    const form = page.getByRole('form', { name: 'Add endpoint' });
    await form.getByLabel('Name').fill('Nowhere');
    await form.getByLabel('Base URL').fill('ftp://nowhere');
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    const refusal = form.getByRole('alert');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /endpoint\.baseURL: must be an http/);
    // Shown at the field it names: right after the Base URL input.
    const nextToField = await form.getByLabel('Base URL').evaluate((input) => input.closest('label')?.nextElementSibling?.textContent ?? '');
    assert.match(nextToField, /must be an http/);
    await shot(page, '01b-settings-refused');
  });

  describe('with a local model and a cloud endpoint', () => {
    let app: UiApp;
    before(async () => {
      app = await ui.startApp((s) => setOrFail(s, { local: { modelPath: models.answer } }), {
        // The test endpoint is on loopback; call it standard so the ceiling has something to keep out.
        overrides: { endpoints: [endpoint(cloud.baseURL, 'cloud-model', { tier: 'standard' })] },
      });
    });

    test('a message streams in and carries a Local badge', async () => {
      const { page } = app;
      await page.getByText('May be sent to 127.0.0.1').waitFor();
      const { oneRow, detail } = await headerIsOneRow(page);
      assert.ok(oneRow, `the header stays one row at 1024 px with an endpoint configured: ${detail}`);
      await send(page, 'Hello there');
      const badge = lastAnswer(page).getByTestId('answer-badge');
      await badge.waitFor();
      assert.equal(await badge.getAttribute('data-kind'), 'local');
      assert.match((await badge.textContent()) ?? '', /Local · answer-model/);
      assert.equal((await lastAnswer(page).locator('.md').textContent())?.trim(), ANSWER);
      assert.equal(await page.locator('aside li').count(), 1, 'the conversation appears in the side list');
      await shot(page, '02-local-answer');
    });

    test('Cloud only answers from the endpoint, and the badge names it', async () => {
      const { page } = app;
      await page.getByRole('radio', { name: 'Cloud only' }).click();
      await send(page, 'And from the cloud?');
      const badge = lastAnswer(page).getByTestId('answer-badge');
      await badge.waitFor();
      assert.equal(await badge.getAttribute('data-kind'), 'remote');
      assert.match((await badge.textContent()) ?? '', /Test cloud · cloud-model/);
      assert.equal((await lastAnswer(page).locator('.md').textContent())?.trim(), CLOUD_REPLY);
      await shot(page, '03-cloud-answer');
    });

    test('with the local model broken, Local first spills over, says why, and the counter moves', async () => {
      const { page, services } = app;
      await setOrFail(services, { local: { modelPath: models.missing } });
      await page.getByRole('radio', { name: 'Local first' }).click();
      await send(page, 'Try local first');
      const reason = lastAnswer(page).getByTestId('spill-reason');
      await reason.waitFor();
      assert.match((await reason.textContent()) ?? '', /Local model failed: The model file does not exist.*answered by Test cloud/);
      await shot(page, '04-spillover');
      await page.getByRole('button', { name: 'Metrics' }).click();
      const spillovers = page.locator('[data-metric="spillovers"]');
      await spillovers.waitFor();
      assert.equal(await spillovers.textContent(), '1');
      await shot(page, '05-metrics');
      await page.getByRole('button', { name: 'Chat' }).click();
    });

    test('with the ceiling at This computer only, the failure is blocked and the endpoint receives nothing', async () => {
      const { page } = app;
      await page.getByLabel('How far requests may travel').selectOption({ label: 'This computer only' });
      await page.getByText('Nothing leaves this computer').waitFor();
      const before = cloud.chatRequests().length;
      await send(page, 'Keep this private');
      const blocked = lastAnswer(page).getByTestId('answer-error');
      await blocked.waitFor();
      assert.equal(await blocked.getAttribute('data-code'), 'PRIVACY_BLOCKED');
      assert.match((await blocked.textContent()) ?? '', /privacy ceiling/);
      assert.equal(cloud.chatRequests().length, before, 'the endpoint received nothing');
      await shot(page, '06-privacy-blocked');
      await page.getByLabel('How far requests may travel').selectOption({ label: 'Anywhere' });
      await page.getByText('May be sent to').waitFor();
    });

    test('an answer containing <img onerror> and <script> renders inert', async () => {
      const { page } = app;
      cloud.setReply('Look <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> **safe** end');
      await page.getByRole('radio', { name: 'Cloud only' }).click();
      await send(page, 'Show me something nasty');
      const answer = lastAnswer(page);
      await answer.getByTestId('answer-badge').waitFor();
      assert.match((await answer.locator('.md').textContent()) ?? '', /Look.*end/s);
      assert.equal(await answer.locator('.md img').count(), 0);
      assert.equal(await answer.locator('.md script').count(), 0);
      assert.equal(await answer.locator('.md strong').textContent(), 'safe');
      await page.waitForTimeout(100);
      assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
      await shot(page, '07-inert-markup');
      cloud.setReply(CLOUD_REPLY);
    });

    test('an answer cut off mid-stream is marked incomplete and can be retried on the cloud', async () => {
      const { page } = app;
      cloud.failNext({ kind: 'mid-stream-error', afterChunks: 2 });
      await send(page, 'This one breaks');
      const incomplete = lastAnswer(page).getByTestId('incomplete');
      await incomplete.waitFor();
      assert.match((await incomplete.textContent()) ?? '', /Incomplete/);
      await shot(page, '08-incomplete');
      const count = await answers(page).count();
      await incomplete.getByRole('button', { name: 'Retry on cloud' }).click();
      await page.locator('[data-testid="incomplete"]').waitFor({ state: 'detached' });
      const retried = answers(page).nth(count - 1);
      await retried.getByTestId('answer-badge').waitFor();
      assert.equal((await retried.locator('.md').textContent())?.trim(), CLOUD_REPLY);
      assert.equal(await answers(page).count(), count, 'the retried answer replaced the cut-off one');
    });

    test('a fast local stream stays responsive and loses or repeats no text', async () => {
      const { page, services } = app;
      await setOrFail(services, { local: { modelPath: models.loop }, generation: { maxTokens: 400 } });
      await page.getByRole('radio', { name: 'Local only' }).click();
      // A fresh conversation: the loop model's 512-token context cannot hold the one above.
      await page.getByRole('button', { name: 'New conversation' }).click();
      await send(page, 'Go fast');
      await page.locator('article[data-role="assistant"][aria-busy="true"]').waitFor();
      // While text streams, the page must keep answering within a frame or two.
      const lags: number[] = [];
      while ((await page.locator('article[data-role="assistant"][aria-busy="true"]').count()) > 0 && lags.length < 50) {
        lags.push(await page.evaluate(() => new Promise<number>((resolve) => { const t = performance.now(); setTimeout(() => resolve(performance.now() - t), 0); })));
      }
      await lastAnswer(page).getByTestId('answer-badge').waitFor();
      const shown = (await lastAnswer(page).locator('.md').textContent())?.trim() ?? '';
      const list = await services.call('conversations:list', {});
      assert.ok(list.ok);
      const stored = await services.call('conversations:get', { id: list.value[0]!.id });
      assert.ok(stored.ok);
      const answer = stored.value.messages.at(-1)!;
      assert.equal(shown, answer.content.trim());
      assert.equal(answer.meta?.usage.outputTokens, 400);
      assert.equal(shown.split(' ').length, 400, 'every one of the 400 words, once');
      const tps = answer.meta?.tokensPerSecond ?? 0;
      assert.ok(Math.max(...lags, 0) < 250, `the page stalled for ${Math.max(...lags)} ms while streaming at ${tps} tok/s`);
      await shot(page, '09-fast-stream');
    });
  });

  test('the model manager downloads a catalog model with progress, cancel and resume, then chats with it', async () => {
    const hf = await startRangeServer();
    const model = buildBigramModel({ name: 'downloaded-model' });
    hf.addRepo(TEST_REPO, { [TEST_FILE]: model });
    const catalogDir = mkdtempSync(join(tmpdir(), 'spillway-e2e-catalog-'));
    ui.onClose(async () => {
      await hf.close();
      rmSync(catalogDir, { recursive: true, force: true });
    });
    // Slow enough to watch the progress and to pause mid-file.
    hf.setFaultHandler((r) => (r.path.endsWith(TEST_FILE) ? { kind: 'slow', bytesPerSecond: 60_000 } : undefined));
    const app0 = await ui.startApp(async () => {}, {
      catalogPath: writeTestCatalog(catalogDir, model),
      downloader: { env: { HF_ENDPOINT: hf.origin }, progressIntervalMs: 50 },
    });
    const { page } = app0;
    await page.getByTestId('first-run').waitFor();
    await page.getByRole('button', { name: 'Download Answer Model' }).click();
    const row = page.getByTestId('download');
    await row.waitFor();
    await page.waitForFunction(() => {
      const bar = document.querySelector('[data-testid="download"] progress') as HTMLProgressElement | null;
      return bar !== null && bar.value > 0;
    });
    await shot(page, '10-download-progress');
    await row.getByRole('button', { name: 'Cancel' }).click();
    await row.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Download' }).first().click();
    await page.waitForFunction(() => Number((document.querySelector('[data-testid="download"] progress') as HTMLProgressElement | null)?.value ?? 0) > 5);
    await page.getByTestId('download').getByRole('button', { name: 'Pause' }).click();
    await page.locator('[data-testid="download"][data-state="paused"]').waitFor();
    await shot(page, '11-download-paused');
    hf.setFaultHandler(undefined);
    const before = hf.bytesSent();
    await page.getByTestId('download').getByRole('button', { name: 'Resume' }).click();
    // Verifying and inspecting go through a freshly started inference host: on a 2-core machine, late in the
    // full suite, that alone has taken more than the default 30 s.
    const SLOW = { timeout: 90_000 };
    await page.locator('[data-testid="download"][data-state="done"]').waitFor(SLOW);
    assert.ok(hf.bytesSent() - before < model.length, 'the resume fetched only the rest of the file');
    await page.getByTestId('download').getByRole('button', { name: 'Use' }).click();
    const local = page.getByTestId('local-model');
    await local.getByText('In use').waitFor(SLOW);
    assert.match((await local.getByTestId('fit').textContent()) ?? '', /Fits in RAM/);
    await shot(page, '12-models');

    await page.getByRole('button', { name: 'Chat' }).click();
    await send(page, 'Hello there');
    const badge = lastAnswer(page).getByTestId('answer-badge');
    await badge.waitFor();
    assert.match((await badge.textContent()) ?? '', /Local · downloaded-model/);
    assert.equal((await lastAnswer(page).locator('.md').textContent())?.trim(), ANSWER);
  });
});
