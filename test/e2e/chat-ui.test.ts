/// <reference lib="dom" />
/**
 * The chat as a new user meets it, in Chromium against headless mode with real services: the header at
 * 1024×700 and narrower, the model picker and its pin, the empty chat, the Models view with a model given
 * like --model, regenerate and edit with their branches, copy (read back from the clipboard), highlighted
 * code, search, the keyboard shortcuts and their panel, names for every control, the live region and the
 * themes. The local engine is the generated test model; the endpoint a fake OpenAI-compatible server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { endpoint } from '../fixtures/endpoints.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { answers, headerIsOneRow, send, shot, startUiHarness, type UiApp, type UiHarness } from '../fixtures/ui-harness.js';

const CODE_REPLY = 'Like this:\n\n```python\ndef greet(name):\n    return f"Hello {name}"  # friendly\n```\n\nThat is **all**.';

let models: FixtureModels;
let cloud: FakeOpenAIServer;
let ui: UiHarness;
let app: UiApp;
/** Every script the page fetched, in order (to see when the highlighter's chunk loads). */
const scripts: string[] = [];

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: 'Hello from the cloud.', responseModel: 'cloud-model' });
  ui = await startUiHarness();
  // The local model as `--model` gives it: a flag for this run, a file outside the models folder.
  app = await ui.startApp(async () => {}, {
    overrides: { local: { modelPath: models.answer }, endpoints: [endpoint(cloud.baseURL, 'cloud-model', { tier: 'standard' })] },
  });
  const { page, server } = app;
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  page.on('request', (request) => {
    if (request.resourceType() === 'script') scripts.push(new URL(request.url()).pathname);
  });
  // Anything the page's CSP refuses is recorded, from the first script on.
  await page.addInitScript(() => {
    const seen: string[] = ((window as unknown as { __csp: string[] }).__csp = []);
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.reload();
});

after(async () => {
  await ui?.close();
  await cloud?.close();
  models?.cleanup();
});

const picker = (page: Page): Locator => page.getByLabel('Model for this conversation');
const clipboard = (page: Page): Promise<string> => page.evaluate(() => navigator.clipboard.readText());
const text = async (locator: Locator): Promise<string> => ((await locator.textContent()) ?? '').trim();

/** The answer's Markdown text once its badge is there. */
async function answered(answer: Locator): Promise<string> {
  await answer.getByTestId('answer-badge').waitFor();
  return text(answer.locator('.md'));
}

/** The header's visible controls share one row, and nothing is cut off or scrolls sideways. */
async function headerFits(page: Page): Promise<{ ok: boolean; detail: string }> {
  return page.evaluate(() => {
    const header = document.querySelector('header')!;
    const shown = Array.from(header.children).filter((el) => getComputedStyle(el).display !== 'none').map((el) => el.getBoundingClientRect());
    const centres = shown.map((box) => box.top + box.height / 2);
    const rowSpread = Math.max(...centres) - Math.min(...centres);
    const right = Math.max(...shown.map((box) => box.right));
    const ok = rowSpread < 4 && header.getBoundingClientRect().height < 48 && right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth;
    return { ok, detail: JSON.stringify({ rowSpread, height: header.getBoundingClientRect().height, right, width: window.innerWidth }) };
  });
}

describe('the chat in Chromium against headless mode', () => {
  test('the header is one row at 1024×700 and stays one row narrower, every control still reachable', async () => {
    const { page } = app;
    await page.getByText('May be sent to 127.0.0.1').waitFor();
    const wide = await headerIsOneRow(page);
    assert.ok(wide.oneRow, `one row at 1024 px: ${wide.detail}`);
    assert.ok((await headerFits(page)).ok);
    assert.ok(await page.getByRole('button', { name: 'Keyboard shortcuts' }).isVisible());
    await shot(page, '30-header-1024');

    for (const width of [900, 800, 640, 480]) {
      await page.setViewportSize({ width, height: 700 });
      const fits = await headerFits(page);
      assert.ok(fits.ok, `one row at ${width} px: ${fits.detail}`);
      // The tier in plain words is still the tier's name where it shrank to a dot.
      assert.match((await page.getByTestId('privacy-tier').getAttribute('title')) ?? '', /May be sent to 127\.0\.0\.1/);
      const strategy = width > 880 ? page.getByRole('radio', { name: 'Cloud first' }) : page.getByRole('combobox', { name: 'Where answers come from' });
      assert.ok(await strategy.isVisible(), `the strategy at ${width} px`);
      const views = width > 760 ? page.getByRole('navigation', { name: 'Views' }) : page.getByRole('combobox', { name: 'View' });
      assert.ok(await views.isVisible(), `the views at ${width} px`);
      await shot(page, `31-header-${width}`);
    }
    // Narrow, the views are a select that works.
    await page.getByRole('combobox', { name: 'View' }).selectOption({ label: 'Models' });
    await page.getByRole('heading', { name: 'On this computer' }).waitFor();
    await page.getByRole('combobox', { name: 'View' }).selectOption({ label: 'Chat' });
    await page.getByRole('combobox', { name: 'Where answers come from' }).selectOption({ label: 'Local only' });
    await page.waitForFunction(() => document.querySelector('[role="radio"][data-strategy="local-only"]')?.getAttribute('aria-checked') === 'true');
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.getByRole('radio', { name: 'Local first' }).click();
    await page.getByRole('radio', { name: 'Local first', checked: true }).waitFor();
  });

  test('the Models view lists the model given like --model, marked in use', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Models' }).click();
    const model = page.getByTestId('local-model');
    await model.getByText('In use').waitFor();
    assert.equal(await model.count(), 1);
    assert.match(await text(model), /answer-model/);
    assert.match(await text(model), /Outside the models folder/);
    assert.equal(await page.getByText('No models yet').count(), 0);
    await shot(page, '32-models-in-use');
    await page.getByRole('button', { name: 'Chat' }).click();
  });

  test('an empty chat says what will answer; the picker lists local models and endpoints, says who answers next, and pins', async () => {
    const { page } = app;
    const empty = page.getByTestId('empty-chat');
    await empty.getByText('will answer').waitFor();
    assert.match(await text(empty), /Local model · answer(-model)? will answer, on this computer\./);
    await picker(page).locator('option', { hasText: 'answer-model' }).waitFor({ state: 'attached' });
    const options = await picker(page).locator('option').allTextContents();
    assert.match(options[0]!, /^Automatic: Local model · answer/);
    assert.ok(options.includes('answer-model — answers next'), JSON.stringify(options));
    assert.ok(options.includes('Test cloud · cloud-model'), JSON.stringify(options));
    const groups = await picker(page).locator('optgroup').evaluateAll((els) => els.map((g) => g.getAttribute('label')));
    assert.deepEqual(groups, ['On this computer', 'Endpoints']);
    await shot(page, '33-empty-chat');

    // Choosing the endpoint pins this conversation to it (starting it); the app keeps Local first.
    await picker(page).selectOption('entry:cloud');
    const chip = page.getByTestId('pin-chip');
    await chip.getByText('only Test cloud').waitFor();
    await page.getByTestId('next-entry').getByText('Test cloud').waitFor();
    await empty.getByText('Test cloud').waitFor();
    assert.match(await text(empty), /Test cloud · cloud-model will answer, on the internet\./);
    const answer = await send(page, 'Who answers?');
    await answer.getByTestId('answer-badge').waitFor();
    assert.equal(await answer.getByTestId('answer-badge').getAttribute('data-entry'), 'cloud');
    assert.equal(await page.getByRole('radio', { name: 'Local first' }).getAttribute('aria-checked'), 'true');
    const stored = await app.services.call('conversations:list', {});
    assert.ok(stored.ok);
    assert.deepEqual(stored.value[0]!.pin, { entryId: 'cloud' });

    // An endpoint beyond the ceiling cannot be chosen.
    await page.getByLabel('How far requests may travel').selectOption({ label: 'Up to local network' });
    await picker(page).locator('option:disabled', { hasText: 'Test cloud · cloud-model (beyond the ceiling)' }).waitFor({ state: 'attached' });
    await page.getByLabel('How far requests may travel').selectOption({ label: 'Anywhere' });

    // Automatic again: the route decides.
    await picker(page).selectOption({ index: 0 });
    await chip.waitFor({ state: 'detached' });
    await page.getByTestId('next-entry').getByText('Local model').waitFor();
    const local = await send(page, 'And now?');
    assert.equal(await answered(local), ANSWER);
    assert.equal(await local.getByTestId('answer-badge').getAttribute('data-kind'), 'local');
  });

  test('regenerate keeps the earlier answer reachable with ‹ 1/2 ›; the conversation continues from the one chosen', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await picker(page).selectOption('entry:cloud');
    await page.getByTestId('pin-chip').waitFor();
    cloud.setReply('The first answer.');
    const answer = await send(page, 'Give me an answer');
    assert.equal(await answered(answer), 'The first answer.');
    assert.equal(await answer.getByTestId('branch-count').count(), 0, 'one version: no ‹ ›');

    cloud.setReply('The second answer.');
    await answer.getByRole('button', { name: 'Regenerate' }).click();
    const regenerated = answers(page).last();
    await regenerated.getByText('The second answer.').waitFor();
    await regenerated.getByTestId('branch-count').getByText('2/2').waitFor();
    assert.equal(await answers(page).count(), 1, 'one answer shown for the turn');
    await shot(page, '34-regenerated');

    await regenerated.getByRole('button', { name: 'Previous version' }).click();
    await answers(page).last().getByText('The first answer.').waitFor();
    assert.equal(await text(answers(page).last().getByTestId('branch-count')), '1/2');
    assert.equal(await answers(page).last().getByRole('button', { name: 'Previous version' }).isDisabled(), true);

    // On from the first answer: the model sees it, not the second.
    cloud.setReply('A follow-up answer.');
    const followUp = await send(page, 'Go on');
    assert.equal(await answered(followUp), 'A follow-up answer.');
    const sent = cloud.chatRequests().at(-1)!.body.messages.map((m: { content: string }) => m.content);
    assert.deepEqual(sent, ['Give me an answer', 'The first answer.', 'Go on']);

    // The second version has no follow-up; back on the first, the follow-up is there again.
    await answers(page).first().getByRole('button', { name: 'Next version' }).click();
    await answers(page).first().getByText('The second answer.').waitFor();
    assert.equal(await answers(page).count(), 1);
    await answers(page).first().getByRole('button', { name: 'Previous version' }).click();
    await answers(page).last().getByText('A follow-up answer.').waitFor();
    assert.equal(await answers(page).count(), 2);
  });

  test('edit and resend: the conversation continues from the edit, the original stays reachable', async () => {
    const { page } = app;
    const question = page.locator('article[data-role="user"]').first();
    await question.getByRole('button', { name: 'Edit' }).click();
    const box = question.getByLabel('Edit message');
    assert.equal(await box.inputValue(), 'Give me an answer');
    await box.fill('Give me a better answer');
    cloud.setReply('A better answer.');
    await question.getByRole('button', { name: 'Send edit' }).click();
    const edited = page.locator('article[data-role="user"]').first();
    await edited.getByText('Give me a better answer').waitFor();
    await edited.getByTestId('branch-count').getByText('2/2').waitFor();
    await answers(page).last().getByText('A better answer.').waitFor();
    assert.equal(await answers(page).count(), 1, 'the edit starts its own branch');
    assert.deepEqual(cloud.chatRequests().at(-1)!.body.messages.map((m: { content: string }) => m.content), ['Give me a better answer']);
    await shot(page, '35-edited');

    await edited.getByRole('button', { name: 'Previous version' }).click();
    await page.locator('article[data-role="user"]').first().getByText('Give me an answer', { exact: true }).waitFor();
    await answers(page).last().getByText('A follow-up answer.').waitFor();
    assert.equal(await answers(page).count(), 2, 'the original branch, with its follow-up');
  });

  test('copy puts a message’s Markdown and a code block on the clipboard; code is highlighted, the highlighter loaded only then', async () => {
    const { page } = app;
    assert.ok(!scripts.some((path) => path.includes('/highlight-')), `no highlighter before any code: ${scripts.join(', ')}`);
    cloud.setReply(CODE_REPLY);
    const answer = await send(page, 'Show me some code');
    await answer.getByTestId('answer-badge').waitFor();
    // Highlighted once the chunk is in: spans with highlight.js classes, sanitised like the rest.
    await answer.locator('code.hljs .hljs-keyword').first().waitFor();
    assert.ok(scripts.some((path) => path.includes('/highlight-')), 'the highlighter chunk was fetched for the code');
    assert.equal(await text(answer.locator('code.hljs .hljs-keyword').first()), 'def');
    assert.equal(await answer.locator('.md strong').textContent(), 'all');

    await answer.getByRole('button', { name: 'Copy', exact: true }).click();
    await answer.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    assert.equal(await clipboard(page), CODE_REPLY, 'the Markdown source, not the rendered text');

    await answer.getByRole('button', { name: 'Copy code block 1 (python)' }).click();
    assert.equal(await clipboard(page), 'def greet(name):\n    return f"Hello {name}"  # friendly');

    const question = page.locator('article[data-role="user"]').last();
    await question.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.waitForFunction(async () => (await navigator.clipboard.readText()) === 'Show me some code');
    await shot(page, '36-code');
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), [], 'the CSP refused nothing');
  });

  test('search finds conversations by title and by content; Ctrl+K goes to it', async () => {
    const { page } = app;
    await page.keyboard.press('Control+K');
    const search = page.getByRole('searchbox', { name: 'Search conversations' });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'conversation-search');
    await search.fill('who answers');
    const results = page.getByTestId('search-results');
    await results.getByRole('button', { name: /Who answers\?/ }).waitFor();
    // "greet" is only in an answer's code.
    await search.fill('greet');
    const hit = results.getByRole('button', { name: /Give me an answer/ });
    await hit.waitFor();
    assert.match(await text(hit), /def greet\(name\)/);
    await shot(page, '37-search');
    await search.fill('no such words anywhere');
    await results.getByText('No conversation has “no such words anywhere”.').waitFor();
    await search.fill('greet');
    await hit.click();
    await page.locator('article[data-role="user"]').getByText('Show me some code').waitFor();
    await search.fill('');
    await page.getByTestId('search-results').waitFor({ state: 'detached' });
  });

  test('keyboard: the shortcuts panel lists them; new conversation, focus the message box and stop work from anywhere', async () => {
    const { page } = app;
    await page.keyboard.press('Control+/');
    const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    const rows = await dialog.locator('tr').allTextContents();
    for (const expected of ['Ctrl+Shift+ONew conversation', 'Ctrl+KSearch conversations', 'Shift+EscFocus the message box', 'EscStop the answer being written', 'Ctrl+/Show these shortcuts']) {
      assert.ok(rows.includes(expected), `${expected} in ${JSON.stringify(rows)}`);
    }
    await shot(page, '38-shortcuts');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await page.getByRole('button', { name: 'Metrics' }).click();
    await page.keyboard.press('Shift+Escape');
    await page.getByTestId('conversation-route').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer');

    await page.locator('header .brand').click();
    await page.keyboard.press('Control+Shift+O');
    await page.getByTestId('empty-chat').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer');

    // Esc stops an answer with the focus anywhere.
    cloud.setReply(Array.from({ length: 60 }, (_, i) => `word${i}`).join(' '));
    cloud.setFaultHandler(() => ({ kind: 'slow', delayMs: 40 }));
    await picker(page).selectOption('entry:cloud');
    await page.getByTestId('pin-chip').waitFor();
    const answer = await send(page, 'Talk slowly');
    await answer.locator('.md').getByText('word1', { exact: false }).waitFor();
    await page.locator('header .brand').click();
    await page.keyboard.press('Escape');
    await answer.getByTestId('answer-badge').getByText('stopped').waitFor();
    cloud.setFaultHandler(undefined);
    assert.ok((await text(answer.locator('.md'))).split(' ').length < 60, 'stopped before the end');
  });

  test('every control has a role and a name, focus is visible, text streams into a polite log, and the themes apply', async () => {
    const { page } = app;
    for (const view of ['Chat', 'Models', 'Settings']) {
      await page.getByRole('button', { name: view, exact: true }).click();
      if (view === 'Chat') await page.getByRole('button', { name: 'This conversation' }).click();
      await page.waitForTimeout(200);
      const tree = await page.ariaSnapshot();
      // A named control reads `- button "Copy"`; one without a name has nothing quoted after its role.
      const unnamed = tree.split('\n').filter((line) => /^\s*- (button|combobox|textbox|searchbox|checkbox|radio|spinbutton|slider|link|tab)(\s*\[[^\]]*\])*\s*(:.*)?$/.test(line));
      assert.deepEqual(unnamed, [], `controls without a name in ${view}`);
      if (view === 'Chat') await page.getByRole('button', { name: 'This conversation' }).click();
    }
    await page.getByRole('button', { name: 'Chat', exact: true }).click();
    const log = page.getByRole('log', { name: 'Messages' });
    assert.equal(await log.getAttribute('aria-live'), 'polite');
    // The answer being written is inside it, so screen readers hear it without being interrupted.
    await send(page, 'One more');
    assert.equal(await log.locator('article[data-role="assistant"]').count(), await answers(page).count());

    // Keyboard focus is drawn.
    await page.getByRole('searchbox', { name: 'Search conversations' }).focus();
    await page.keyboard.press('Shift+Tab');
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return `${style.outlineStyle} ${style.outlineWidth}`;
    });
    assert.equal(outline, 'solid 2px', 'the focused control has the app’s focus ring');

    const background = (): Promise<string> => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await background(), 'rgb(255, 255, 255)');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await background(), 'rgb(23, 24, 28)', 'the system’s dark theme');
    await shot(page, '39-dark');
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('tab', { name: 'General' }).click();
    await page.getByRole('radio', { name: 'Light' }).check();
    assert.equal(await background(), 'rgb(255, 255, 255)', 'Light wins over the system');
    await page.reload();
    assert.equal(await background(), 'rgb(255, 255, 255)', 'and is remembered');
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('tab', { name: 'General' }).click();
    await page.getByRole('radio', { name: 'Dark' }).check();
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await background(), 'rgb(23, 24, 28)', 'Dark wins over the system');
    await page.getByRole('radio', { name: 'As the system' }).check();
    assert.equal(await background(), 'rgb(255, 255, 255)');
    await page.getByRole('button', { name: 'Chat', exact: true }).click();
  });
});
