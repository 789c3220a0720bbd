/**
 * The chat's renderer state against a fake bridge: branches, files, the model picker, search, export and
 * import, shortcuts and themes, as the window would show them, without a window.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConversationMessage, ExportFile, LocalModel } from '../../electron/contract/index.js';
import { readAttachment } from '../../renderer/src/lib/attachments.js';
import type { Highlighter } from '../../renderer/src/lib/markdown.js';
import { pickerGroups } from '../../renderer/src/lib/model-picker.js';
import { shortcutFor, shortcutList } from '../../renderer/src/lib/shortcuts.js';
import { ArchiveState } from '../../renderer/src/lib/state/archive.svelte.js';
import { ChatState } from '../../renderer/src/lib/state/chat.svelte.js';
import { ComposerState } from '../../renderer/src/lib/state/composer.svelte.js';
import { HighlightingState } from '../../renderer/src/lib/state/highlighting.svelte.js';
import { ModelPickerState } from '../../renderer/src/lib/state/model-picker.svelte.js';
import { ModelsState } from '../../renderer/src/lib/state/models.svelte.js';
import { PinState } from '../../renderer/src/lib/state/pin.svelte.js';
import { SearchState } from '../../renderer/src/lib/state/search.svelte.js';
import { ThemeState } from '../../renderer/src/lib/state/theme.svelte.js';
import { CLOUD_ENTRY, fakeApi, LOCAL_ENTRY, ok, routerState, settle } from '../fixtures/fake-spillway-api.js';

const message = (id: string, role: 'user' | 'assistant', content: string, extra: Partial<ConversationMessage> = {}): ConversationMessage => ({ id, role, content, createdAt: 1, ...extra });

const localModel = (path: string, active: boolean, extra: Partial<LocalModel> = {}): LocalModel => ({
  path, fileName: path.split('/').at(-1)!, sizeBytes: 1, source: 'models-folder', active, inspection: null, error: null, ...extra,
});

describe('ChatState branches', () => {
  const conversation = (messages: ConversationMessage[]) => ok({ id: 'c1', title: 't', createdAt: 1, updatedAt: 1, messageCount: messages.length, pin: null, settings: {}, consent: [], messages });

  test('regenerate answers the turn again in place; the stored branch then says 2/2', async () => {
    const { api, fire, requests } = fakeApi({
      conversationsGet: () => conversation([message('u1', 'user', 'Q'), message('a2', 'assistant', 'Second', { branch: { index: 1, ids: ['a1', 'a2'] } })]),
      conversationsList: () => ok([]),
      chatRetry: () => ok({ requestId: 'r2', conversationId: 'c1' }),
    });
    const chat = new ChatState(api, (cb) => cb());
    await chat.select('c1');
    chat.messages = [message('u1', 'user', 'Q'), message('a1', 'assistant', 'First')];
    await chat.regenerate('a1');
    assert.deepEqual(requests('chatRetry'), [{ conversationId: 'c1', messageId: 'a1' }]);
    assert.deepEqual(chat.messages.map((m) => m.id), ['u1', 'pending-r2'], 'the old answer makes way for the new one');
    fire('chat:done', { requestId: 'r2', conversationId: 'c1', result: ok(message('a2', 'assistant', 'Second')) });
    await settle();
    await settle();
    assert.deepEqual(chat.messages.map((m) => [m.id, m.branch?.index, m.branch?.ids.length]), [['u1', undefined, undefined], ['a2', 1, 2]]);
  });

  test('an answer that failed (never stored) stays in place when the branch is taken from the services', async () => {
    const { api, fire } = fakeApi({
      conversationsGet: () => conversation([message('u1', 'user', 'Q1'), message('u2', 'user', 'Q2'), message('a2', 'assistant', 'A2')]),
      conversationsList: () => ok([]),
      chatSend: () => ok({ requestId: 'r2', conversationId: 'c1', userMessageId: 'u2' }),
    });
    const chat = new ChatState(api, (cb) => cb());
    chat.activeId = 'c1';
    chat.messages = [message('u1', 'user', 'Q1'), { ...message('pending-r1', 'assistant', ''), error: { code: 'TIMEOUT', message: 'slow', retryable: true } }];
    await chat.send('Q2');
    fire('chat:done', { requestId: 'r2', conversationId: 'c1', result: ok(message('a2', 'assistant', 'A2')) });
    await settle();
    await settle();
    assert.deepEqual(chat.messages.map((m) => m.id), ['u1', 'pending-r1', 'u2', 'a2']);
  });

  test('edit replaces the message and what followed with the edit and its answer; selectBranch shows what the services say', async () => {
    const { api, requests } = fakeApi({
      chatEdit: () => ok({ requestId: 'r3', conversationId: 'c1', userMessageId: 'u1b' }),
      conversationsSelectBranch: () => conversation([message('u1', 'user', 'Old'), message('a1', 'assistant', 'A')]),
      conversationsList: () => ok([]),
    });
    const chat = new ChatState(api, (cb) => cb());
    chat.activeId = 'c1';
    const file = { kind: 'text' as const, name: 'a.txt', text: 'x' };
    chat.messages = [message('u1', 'user', 'Old', { attachments: [file] }), message('a1', 'assistant', 'A')];
    assert.equal(await chat.edit('u1', '  New  '), true);
    assert.deepEqual(requests('chatEdit'), [{ conversationId: 'c1', messageId: 'u1', content: 'New' }]);
    assert.deepEqual(chat.messages.map((m) => [m.id, m.content]), [['u1b', 'New'], ['pending-r3', '']]);
    assert.deepEqual(chat.messages[0]!.attachments, [file], 'the edit keeps the files');
    assert.equal(await chat.edit('u1b', 'again'), false, 'not while answering');
    chat.runningRequest = null;
    await chat.selectBranch('u1');
    assert.deepEqual(requests('conversationsSelectBranch'), [{ id: 'c1', messageId: 'u1' }]);
    assert.deepEqual(chat.messages.map((m) => m.content), ['Old', 'A']);
  });

  test('files go with the message as plain data; files alone are a message', async () => {
    const { api, requests } = fakeApi({ chatSend: () => ok({ requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' }), conversationsList: () => ok([]) });
    const chat = new ChatState(api, (cb) => cb());
    const image = { kind: 'image' as const, name: 'a.png', mimeType: 'image/png' as const, dataUrl: 'data:image/png;base64,AA==' };
    assert.equal(await chat.send('  ', [image]), true);
    assert.deepEqual(requests('chatSend'), [{ content: '', attachments: [image] }]);
    assert.deepEqual(chat.messages[0]!.attachments, [image]);
  });
});

describe('attachments', () => {
  test('text and code are read as text, images as data: URLs; each limit and a binary file are refused by name', async () => {
    assert.deepEqual(await readAttachment(new File(['print(1)\n'], 'a.py', { type: 'text/x-python' })), { kind: 'text', name: 'a.py', text: 'print(1)\n' });
    const png = await readAttachment(new File([new Uint8Array([137, 80, 78, 71])], 'dot.png', { type: 'image/png' }));
    assert.deepEqual(png, { kind: 'image', name: 'dot.png', mimeType: 'image/png', dataUrl: 'data:image/png;base64,iVBORw==' });
    await assert.rejects(readAttachment(new File([new Uint8Array(256 * 1024 + 1)], 'big.txt')), /big\.txt is 256 KB; a text or code file may be up to 256 KB/);
    await assert.rejects(readAttachment(new File([new Uint8Array(5 * 1024 * 1024 + 1)], 'huge.jpg', { type: 'image/jpeg' })), /huge\.jpg is 5 MB; an image may be up to 5 MB/);
    await assert.rejects(readAttachment(new File([new Uint8Array([0, 1, 2])], 'a.bin')), /a\.bin is neither a text file nor an image/);
    await assert.rejects(readAttachment(new File([new Uint8Array([0xff, 0xfe, 0x41])], 'latin1.txt')), /neither a text file/);
    await assert.rejects(readAttachment(new File(['<svg/>'], 'a.svg', { type: 'image/svg+xml' })), /image\/svg\+xml image; images can be PNG, JPEG, WebP or GIF/);
  });

  test('the message box takes up to eight files and 20 MB together, saying which file was left out', async () => {
    const composer = new ComposerState();
    await composer.add(Array.from({ length: 9 }, (_, i) => new File(['x'], `${i}.txt`)));
    assert.equal(composer.attachments.length, 8);
    assert.equal(composer.error, 'A message can carry 8 files; 8.txt was not attached.');
    composer.clear();
    const image = (name: string) => new File([new Uint8Array(4.5 * 1024 * 1024)], name, { type: 'image/png' });
    await composer.add([image('1.png'), image('2.png'), image('3.png'), image('4.png'), image('5.png')]);
    assert.equal(composer.attachments.length, 4);
    assert.match(composer.error ?? '', /^5\.png would make this message's files 22\.5 MB; together they may be up to 20 MB\.$/);
    composer.remove(0);
    assert.equal(composer.error, null);
    assert.equal(composer.empty, false);
  });
});

describe('model picker', () => {
  test('lists local models and endpoints, says who answers next, and which option is chosen', () => {
    const models = [localModel('/m/a.gguf', true, { inspection: { name: 'qwen' } as LocalModel['inspection'] }), localModel('/m/b.gguf', false), localModel('/m/broken.gguf', false, { error: { code: 'INVALID_ARGUMENT', message: 'bad', retryable: false } })];
    const groups = pickerGroups(routerState(), models, null);
    assert.equal(groups.automatic.label, 'Automatic: Local model · qwen');
    assert.deepEqual(groups.local.map((o) => [o.value, o.label]), [['local:/m/a.gguf', 'qwen — answers next'], ['local:/m/b.gguf', 'b.gguf (loads it)']]);
    assert.deepEqual(groups.endpoints.map((o) => [o.value, o.label, o.disabled]), [['entry:openai', 'OpenAI · gpt-4o-mini', false]]);
    assert.equal(groups.value, '');

    const pinned = pickerGroups(routerState({ next: 'openai', route: [LOCAL_ENTRY, CLOUD_ENTRY] }), models, { entryId: 'openai' });
    assert.equal(pinned.automatic.label, 'Automatic (follow the route)');
    assert.equal(pinned.value, 'entry:openai');
    assert.equal(pinned.endpoints[0]!.label, 'OpenAI · gpt-4o-mini — answers next');
    assert.equal(pickerGroups(routerState(), models, { entryId: 'local' }).value, 'local:/m/a.gguf');

    const ceiling = pickerGroups(routerState({ route: [LOCAL_ENTRY, { ...CLOUD_ENTRY, excluded: 'ceiling' }] }), [], { entryId: 'gone' });
    assert.deepEqual(ceiling.endpoints.map((o) => [o.label, o.disabled]), [['OpenAI · gpt-4o-mini (beyond the ceiling)', true], ['gone (no longer configured)', true]]);
    assert.equal(pickerGroups(routerState({ next: null }), [], null).automatic.label, 'Automatic: nothing can answer');
  });

  test('choosing pins the entry; a local model not loaded is made the engine’s first, and a refusal pins nothing', async () => {
    let setActive = ok({} as never) as ReturnType<typeof ok>;
    const { api, requests } = fakeApi({
      routerGet: () => ok(routerState()),
      conversationsCreate: () => ok({ id: 'c1', title: 't', createdAt: 1, updatedAt: 1, messageCount: 0, pin: null, settings: {}, consent: [], messages: [] }),
      conversationsSetPin: (r: { id: string; pin: unknown }) => ok({ id: r.id, title: 't', createdAt: 1, updatedAt: 1, messageCount: 0, pin: r.pin, settings: {} }),
      modelsSetActive: () => setActive,
      modelsList: () => ok([localModel('/m/b.gguf', true)]),
    });
    const chat = new ChatState(api, (cb) => cb());
    const pin = new PinState(api, chat);
    const models = new ModelsState(api);
    models.models = [localModel('/m/a.gguf', true), localModel('/m/b.gguf', false)];
    const picker = new ModelPickerState(pin, models);
    await picker.choose('entry:openai');
    assert.deepEqual(requests('conversationsSetPin').at(-1), { id: 'c1', pin: { entryId: 'openai' } });
    await picker.choose('local:/m/b.gguf');
    assert.deepEqual(requests('modelsSetActive'), [{ path: '/m/b.gguf' }]);
    assert.deepEqual(requests('conversationsSetPin').at(-1), { id: 'c1', pin: { entryId: 'local' } });
    await picker.choose('');
    assert.deepEqual(requests('conversationsSetPin').at(-1), { id: 'c1', pin: null });

    setActive = { ok: false, error: { code: 'NOT_FOUND', message: 'There is no file at /m/c.gguf.', retryable: false } } as never;
    const pins = requests('conversationsSetPin').length;
    await picker.choose('local:/m/c.gguf');
    assert.equal(picker.error?.message, 'There is no file at /m/c.gguf.');
    assert.equal(requests('conversationsSetPin').length, pins);
  });
});

describe('search, export and import', () => {
  test('search waits for a pause in typing and never shows the results of an older query', async () => {
    let answer: (value: unknown) => void = () => {};
    const { api, requests } = fakeApi({ conversationsSearch: () => new Promise((resolve) => (answer = resolve)) as never });
    const search = new SearchState(api, 5);
    search.setQuery('pen');
    search.setQuery('peng');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(requests('conversationsSearch'), [{ query: 'peng' }], 'one search, for what was typed last');
    search.setQuery('penguin');
    answer(ok([{ id: 'old', title: 'Old', updatedAt: 1, matchedIn: 'title', snippet: null }]));
    await settle();
    assert.equal(search.hits, null, 'an answer to an older query is dropped');
    search.clear();
    assert.equal(search.hits, null);
  });

  test('export saves the file the services made; import reports what it did, or why nothing was imported', async () => {
    const saved: ExportFile[] = [];
    const file: ExportFile = { fileName: 'spillway-conversations-2026-01-31.json', mimeType: 'application/json', content: '{}' };
    const { api, requests } = fakeApi({
      conversationsExport: () => ok(file),
      conversationsImport: (r: { content: string }) => (r.content === 'good' ? ok({ imported: [{}, {}] }) : { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'Nothing was imported: it is not JSON.', retryable: false } }),
      conversationsList: () => ok([]),
    });
    const chat = new ChatState(api, (cb) => cb());
    const archive = new ArchiveState(api, chat, (f) => saved.push(f));
    await archive.export('active', 'json');
    assert.equal(saved.length, 0, 'no conversation open: nothing to export');
    chat.activeId = 'c1';
    await archive.export('active', 'markdown');
    await archive.export('all', 'json');
    assert.deepEqual(requests('conversationsExport'), [{ format: 'markdown', ids: ['c1'] }, { format: 'json' }]);
    assert.deepEqual(saved, [file, file]);
    assert.equal(archive.status, 'Saved spillway-conversations-2026-01-31.json.');

    await archive.import(new File(['good'], 'a.json'));
    assert.equal(archive.status, 'Imported 2 conversations from a.json.');
    await archive.import(new File(['bad'], 'b.json'));
    assert.equal(archive.error?.message, 'Nothing was imported: it is not JSON.');
    assert.equal(archive.status, null);
    const big = { name: 'big.json', size: 64 * 1024 * 1024 + 1, text: async () => '' } as unknown as File;
    await archive.import(big);
    assert.equal(archive.error?.message, 'Nothing was imported: big.json is larger than 64 MB.');
    assert.equal(requests('conversationsImport').length, 2, 'a file past the limit is never sent');
  });
});

describe('shortcuts, highlighting and themes', () => {
  test('each shortcut is matched with this platform’s modifier, and listed for the help panel', () => {
    const press = (key: string, mods: Partial<Record<'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey', boolean>> = {}) => ({ key, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });
    assert.equal(shortcutFor(press('O', { ctrlKey: true, shiftKey: true }), false), 'new-conversation');
    assert.equal(shortcutFor(press('o', { metaKey: true, shiftKey: true }), true), 'new-conversation');
    assert.equal(shortcutFor(press('o', { ctrlKey: true, shiftKey: true }), true), null, 'Ctrl is not ⌘ on a Mac');
    assert.equal(shortcutFor(press('k', { ctrlKey: true }), false), 'search');
    assert.equal(shortcutFor(press('Escape', { shiftKey: true }), false), 'focus-composer');
    assert.equal(shortcutFor(press('Escape'), false), 'stop');
    assert.equal(shortcutFor(press('/', { ctrlKey: true }), false), 'help');
    assert.equal(shortcutFor(press('k', { ctrlKey: true, altKey: true }), false), null);
    assert.equal(shortcutFor(press('k'), false), null);
    assert.deepEqual(shortcutList(true)[0], { keys: ['⌘', 'Shift', 'O'], description: 'New conversation' });
    assert.deepEqual(shortcutList(false).map((s) => s.keys.join('+')), ['Ctrl+Shift+O', 'Ctrl+K', 'Shift+Esc', 'Esc', 'Ctrl+/', 'Enter', 'Shift+Enter']);
  });

  test('the highlighter is loaded once, on first request, and again after a failed load', async () => {
    let loads = 0;
    let fail = true;
    const highlighting = new HighlightingState(async () => {
      loads++;
      if (fail) throw new Error('offline');
      return () => '<span>x</span>';
    });
    highlighting.request();
    await settle();
    assert.equal(highlighting.highlighter, null);
    fail = false;
    highlighting.request();
    highlighting.request();
    await settle();
    assert.equal(loads, 2);
    // Read again: the assertion above narrowed the field to null for TypeScript.
    const highlighter = highlighting.highlighter as Highlighter | null;
    assert.equal(highlighter?.('x', ''), '<span>x</span>');
  });

  test('a theme is remembered and set on the page; the system’s is the default', () => {
    const stored = new Map<string, string>();
    const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v) };
    const attributes = new Map<string, string>();
    const root = { setAttribute: (k: string, v: string) => void attributes.set(k, v), removeAttribute: (k: string) => void attributes.delete(k) } as unknown as HTMLElement;
    const theme = new ThemeState(storage, root);
    assert.equal(theme.theme, 'system');
    assert.equal(attributes.get('data-theme'), undefined);
    theme.set('dark');
    assert.equal(attributes.get('data-theme'), 'dark');
    assert.equal(new ThemeState(storage, root).theme, 'dark', 'remembered');
    theme.set('system');
    assert.equal(attributes.has('data-theme'), false);
    stored.set('spillway.theme', 'purple');
    assert.equal(new ThemeState(storage, root).theme, 'system', 'an unknown value is ignored');
  });
});

describe('conversations changed in another window', () => {
  const summary = (id: string, title: string, updatedAt: number, pin: { strategy: 'local-only' } | null = null) => ({ id, title, createdAt: 1, updatedAt, messageCount: 0, pin, settings: {} });
  test('the list takes a changed summary in its place by recency; a deletion removes it and leaves the open one', async () => {
    const { api, fire, requests } = fakeApi({
      conversationsList: () => ok([summary('b', 'B', 2), summary('a', 'A', 1)]),
      routerGet: () => ok(routerState()),
    });
    const chat = new ChatState(api, (cb) => cb());
    const pin = new PinState(api, chat);
    await chat.load();
    chat.activeId = 'a';
    await pin.follow('a');
    const asked = requests('routerGet').length;

    fire('conversations:changed', { id: 'a', summary: summary('a', 'A renamed', 3, { strategy: 'local-only' }) });
    await settle();
    assert.deepEqual(chat.conversations.map((c) => c.title), ['A renamed', 'B'], 'newest first');
    assert.deepEqual(pin.pin, { strategy: 'local-only' }, 'the pin set elsewhere is the one shown');
    assert.equal(requests('routerGet').length, asked + 1, 'the route under the new pin is asked for');

    fire('conversations:changed', { id: 'c', summary: summary('c', 'C', 4) });
    fire('conversations:changed', { id: 'b', summary: null });
    assert.deepEqual(chat.conversations.map((c) => c.id), ['c', 'a']);
    assert.equal(chat.activeId, 'a');
    fire('conversations:changed', { id: 'a', summary: null });
    assert.equal(chat.activeId, null, 'the open conversation was deleted elsewhere: a new one is shown');
    assert.deepEqual(chat.conversations.map((c) => c.id), ['c']);
  });
});
