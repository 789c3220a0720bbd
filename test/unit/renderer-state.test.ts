/** The renderer's state classes against a fake bridge: what the window shows, without a window. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConsentRequest, ConversationSummary, RoutingEvent } from '../../electron/contract/index.js';
import { egressCsv, egressJson } from '../../renderer/src/lib/egress-export.js';
import { ChatState } from '../../renderer/src/lib/state/chat.svelte.js';
import { ConsentState } from '../../renderer/src/lib/state/consent.svelte.js';
import { EgressState } from '../../renderer/src/lib/state/egress.svelte.js';
import { EndpointsState, FORM } from '../../renderer/src/lib/state/endpoints.svelte.js';
import { failureKinds, MetricsState } from '../../renderer/src/lib/state/metrics.svelte.js';
import { PinState } from '../../renderer/src/lib/state/pin.svelte.js';
import { RoutingState } from '../../renderer/src/lib/state/routing.svelte.js';
import { SettingsState } from '../../renderer/src/lib/state/settings.svelte.js';
import { describeTier, describeWhy, hostsAt } from '../../renderer/src/lib/words.js';
import { endpoint } from '../fixtures/endpoints.js';
import { CLOUD_ENTRY, egressEntry, fakeApi, LOCAL_ENTRY, ok, publicSettings, routerState, settle, type Handler } from '../fixtures/fake-spillway-api.js';

const refused = (field: string, message: string) => ({ ok: false as const, error: { code: 'INVALID_ARGUMENT' as const, message, retryable: false, field } });

describe('ChatState', () => {
  test('a sent message streams in, batched per frame, and is replaced by the stored answer', async () => {
    const { api, fire } = fakeApi({
      chatSend: () => ok({ requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' }),
      conversationsList: () => ok([]),
    });
    const frames: (() => void)[] = [];
    const chat = new ChatState(api, (cb) => frames.push(cb));
    assert.equal(await chat.send('  Hello  '), true);
    assert.equal(chat.activeId, 'c1');
    assert.equal(chat.busy, true);
    assert.deepEqual(chat.messages.map((m) => [m.role, m.content]), [['user', 'Hello'], ['assistant', '']]);

    for (const text of ['Hel', 'lo ', 'there']) fire('chat:delta', { requestId: 'r1', conversationId: 'c1', text });
    assert.equal(frames.length, 1, 'three deltas, one frame');
    assert.equal(chat.messages[1]!.content, '', 'nothing applied before the frame');
    frames.shift()!();
    assert.equal(chat.messages[1]!.content, 'Hello there');

    fire('chat:delta', { requestId: 'other', conversationId: 'c9', text: 'not mine' });
    assert.equal(frames.length, 0);

    const stored = { id: 'a1', role: 'assistant' as const, content: 'Hello there', createdAt: 1, meta: {
      entryId: 'local', entryKind: 'local' as const, entryName: 'Local model', tier: 'sovereign' as const, model: 'm', stopReason: 'stop' as const,
      usage: { inputTokens: 1, outputTokens: 3 }, timeToFirstTokenMs: 5, totalMs: 20, tokensPerSecond: 100 } };
    fire('chat:done', { requestId: 'r1', conversationId: 'c1', result: { ok: true, value: stored } });
    await settle();
    assert.equal(chat.busy, false);
    assert.equal(chat.messages[1]!.id, 'a1');
    assert.equal(chat.messages[1]!.meta?.entryKind, 'local');
  });

  test('a failed answer keeps what streamed and carries the error; sending while busy is refused', async () => {
    const { api, fire, requests } = fakeApi({
      chatSend: () => ok({ requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' }),
      conversationsList: () => ok([]),
      chatCancel: () => ok({ cancelled: true }),
    });
    const chat = new ChatState(api, (cb) => cb());
    await chat.send('Hi');
    assert.equal(await chat.send('again'), false);
    fire('chat:delta', { requestId: 'r1', conversationId: 'c1', text: 'Part' });
    await chat.stop();
    assert.deepEqual(requests('chatCancel'), [{ requestId: 'r1' }]);
    fire('chat:done', { requestId: 'r1', conversationId: 'c1', result: { ok: false, error: { code: 'TIMEOUT', message: 'too slow', retryable: true } } });
    await settle();
    assert.equal(chat.messages[1]!.content, 'Part');
    assert.equal(chat.messages[1]!.error?.code, 'TIMEOUT');
    assert.equal(chat.busy, false);
  });

  test('an answer that finishes before chat:send returns is still shown', async () => {
    let fire!: ReturnType<typeof fakeApi>['fire'];
    const fake = fakeApi({
      chatSend: async () => {
        // The service failed so fast that its events overtook the reply.
        fire('chat:delta', { requestId: 'r1', conversationId: 'c1', text: 'Early' });
        fire('chat:done', { requestId: 'r1', conversationId: 'c1', result: { ok: false, error: { code: 'PRIVACY_BLOCKED', message: 'blocked', retryable: false } } });
        return ok({ requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' });
      },
      conversationsList: () => ok([]),
    });
    fire = fake.fire;
    const chat = new ChatState(fake.api, (cb) => cb());
    await chat.send('Hi');
    await settle();
    assert.equal(chat.busy, false);
    assert.equal(chat.messages[1]!.content, 'Early');
    assert.equal(chat.messages[1]!.error?.code, 'PRIVACY_BLOCKED');
  });

  test('an empty message is not sent; a refused send shows the error', async () => {
    const { api, calls } = fakeApi({ chatSend: () => refused('content', 'content: must not be empty') });
    const chat = new ChatState(api, (cb) => cb());
    assert.equal(await chat.send('   '), false);
    assert.equal(calls.length, 0);
    assert.equal(await chat.send('x'), false);
    assert.equal(chat.error?.code, 'INVALID_ARGUMENT');
  });
});

describe('RoutingState', () => {
  test('strategy and ceiling go through the bridge; the tier reads in plain words and names the host', async () => {
    const { api, requests, fire } = fakeApi({
      routerGet: () => ok(routerState()),
      routerSetStrategy: (r: { strategy: 'cloud-only' }) => ok(routerState({ strategy: r.strategy, next: 'openai' })),
      routerSetCeiling: () => ok(routerState({ ceiling: 'sovereign', privacyTier: 'sovereign', route: [LOCAL_ENTRY, { ...CLOUD_ENTRY, excluded: 'ceiling' }] })),
    });
    const routing = new RoutingState(api);
    await routing.load();
    assert.equal(routing.tierText, 'May be sent to api.openai.com');
    await routing.setStrategy('cloud-only');
    assert.equal(routing.state?.strategy, 'cloud-only');
    await routing.setCeiling('sovereign');
    assert.deepEqual(requests('routerSetCeiling'), [{ ceiling: 'sovereign' }]);
    assert.equal(routing.state?.ceiling, 'sovereign');
    assert.equal(routing.tierText, 'Nothing leaves this computer');

    // Another window changed it: the header follows.
    const lan = { ...CLOUD_ENTRY, id: 'lan', name: 'Ollama', host: '192.168.1.5:11434', tier: 'private' as const };
    fire('router:update', routerState({ ceiling: 'private', privacyTier: 'private', route: [LOCAL_ENTRY, lan, { ...CLOUD_ENTRY, excluded: 'ceiling' }] }));
    assert.equal(routing.tierText, 'May reach 192.168.1.5:11434 on your network');
    assert.equal(routing.nameOf('lan'), 'Ollama');
    assert.equal(routing.nameOf('gone'), 'gone');
  });

  test('only usable entries at the effective tier are named', () => {
    const second = { ...CLOUD_ENTRY, id: 'groq', host: 'api.groq.com' };
    assert.equal(hostsAt([LOCAL_ENTRY, CLOUD_ENTRY, second], 'standard'), 'api.openai.com +1');
    assert.equal(hostsAt([LOCAL_ENTRY, { ...CLOUD_ENTRY, excluded: 'strategy' }, second], 'standard'), 'api.groq.com');
    assert.equal(describeTier('standard', null), 'May be sent to a cloud provider');
    assert.equal(describeWhy('spillover', 'timeout'), 'the entry before it failed (timeout)');
  });
});

const ask = (consentId: string, extra: Partial<ConsentRequest> = {}): ConsentRequest => ({
  consentId, requestId: `r-${consentId}`, conversationId: 'c1',
  entry: { id: 'openai', name: 'OpenAI', host: 'api.openai.com', model: 'gpt-4o-mini', tier: 'standard' }, why: 'cloud-only', ...extra,
});

describe('ConsentState', () => {
  test('questions queue one after another; an answer goes through the bridge and the next one shows', async () => {
    const { api, fire, requests } = fakeApi({ chatConsent: () => ok({ settled: true }) });
    const consent = new ConsentState(api);
    assert.equal(consent.queue.length, 0);
    fire('consent:request', ask('k1'));
    fire('consent:request', ask('k2', { why: 'spillover', after: { kind: 'timeout', message: 'no first token in 3 s' } }));
    fire('consent:request', ask('k1'));
    assert.deepEqual(consent.queue.map((q) => q.consentId), ['k1', 'k2'], 'a repeated question is not asked twice');
    assert.equal(consent.current?.consentId, 'k1');
    await consent.answer('once');
    assert.deepEqual(requests('chatConsent'), [{ consentId: 'k1', choice: 'once' }]);
    assert.equal(consent.current?.consentId, 'k2');
    assert.equal(consent.current?.after?.message, 'no first token in 3 s');
  });

  test('a question answered in another window, or withdrawn, closes here', () => {
    const { api, fire, calls } = fakeApi({});
    const consent = new ConsentState(api);
    fire('consent:request', ask('k1'));
    fire('consent:request', ask('k2'));
    fire('consent:settled', { consentId: 'k1', choice: 'always' });
    assert.equal(consent.current?.consentId, 'k2');
    fire('consent:settled', { consentId: 'k2', choice: 'withdrawn' });
    assert.equal(consent.current, null);
    assert.equal(calls.length, 0);
  });

  test('a refused answer keeps the question open and says why', async () => {
    const { api, fire } = fakeApi({ chatConsent: () => ({ ok: false, error: { code: 'UNAVAILABLE', message: 'Spillway is shutting down.', retryable: true } }) });
    const consent = new ConsentState(api);
    fire('consent:request', ask('k1'));
    await consent.answer('keep');
    assert.equal(consent.current?.consentId, 'k1');
    assert.equal(consent.error?.message, 'Spillway is shutting down.');
  });
});

const summary = (id: string, extra: Partial<ConversationSummary> = {}): ConversationSummary => ({
  id, title: id, createdAt: 1, updatedAt: 1, messageCount: 1, pin: null, settings: {}, ...extra,
});

describe('PinState', () => {
  test('follows the active conversation: who answers next, its pin, set and cleared through the bridge', async () => {
    const pins: Record<string, ConversationSummary['pin']> = {};
    const { api, fire, requests } = fakeApi({
      conversationsList: () => ok([summary('c1')]),
      routerGet: (r: { conversationId?: string }) => ok(routerState(pins[r.conversationId ?? ''] ? { strategy: 'local-only', next: 'local' } : { strategy: 'cloud-only', next: 'openai' })),
      conversationsSetPin: (r: { id: string; pin: ConversationSummary['pin'] }) => {
        pins[r.id] = r.pin;
        return ok(summary(r.id, { pin: r.pin }));
      },
    });
    const chat = new ChatState(api, (cb) => cb());
    await chat.load();
    const pin = new PinState(api, chat);
    await pin.follow('c1');
    assert.deepEqual(requests('routerGet'), [{ conversationId: 'c1' }]);
    assert.equal(pin.next?.name, 'OpenAI');
    assert.equal(pin.pin, null);

    await pin.setStrategy('local-only');
    assert.deepEqual(requests('conversationsSetPin').at(-1), { id: 'c1', pin: { strategy: 'local-only' } });
    assert.deepEqual(pin.pin, { strategy: 'local-only' });
    assert.equal(pin.next?.name, 'Local model');
    await pin.setCeiling('sovereign');
    assert.deepEqual(pin.pin, { strategy: 'local-only', ceiling: 'sovereign' }, 'the strategy is kept');
    await pin.setStrategy(null);
    assert.deepEqual(pin.pin, { ceiling: 'sovereign' });
    await pin.clear();
    assert.deepEqual(requests('conversationsSetPin').at(-1), { id: 'c1', pin: null });
    assert.equal(pin.pin, null);
    assert.equal(pin.next?.name, 'OpenAI');

    const asked = requests('routerGet').length;
    fire('router:update', routerState());
    await settle();
    assert.deepEqual(requests('routerGet').at(asked), { conversationId: 'c1' }, 'a route change refreshes the conversation’s view');
  });

  test('pinning a conversation not started yet starts it; "nothing can answer" is null', async () => {
    const { api, requests } = fakeApi({
      conversationsCreate: () => ok({ ...summary('new1', { messageCount: 0, title: 'New conversation' }), messages: [], consent: [] }),
      conversationsSetPin: (r: { id: string; pin: ConversationSummary['pin'] }) => ok(summary(r.id, { pin: r.pin })),
      routerGet: () => ok(routerState({ next: null })),
    });
    const chat = new ChatState(api, (cb) => cb());
    const pin = new PinState(api, chat);
    await pin.follow(null);
    assert.deepEqual(requests('routerGet'), [{}], 'a new conversation shows the app’s route');
    assert.equal(pin.state?.next, null);
    assert.equal(pin.next, null);
    await pin.clear();
    assert.equal(requests('conversationsCreate').length, 0, 'clearing nothing creates nothing');
    await pin.setCeiling('private');
    assert.equal(chat.activeId, 'new1');
    assert.deepEqual(requests('conversationsSetPin'), [{ id: 'new1', pin: { ceiling: 'private' } }]);
    assert.deepEqual(pin.pin, { ceiling: 'private' });
  });

  test('an answer for a conversation left behind is ignored', async () => {
    let release!: () => void;
    const { api } = fakeApi({
      routerGet: async (r: { conversationId?: string }) => {
        if (r.conversationId === 'slow') await new Promise<void>((resolve) => (release = resolve));
        return ok(routerState({ next: r.conversationId === 'slow' ? 'openai' : 'local' }));
      },
    });
    const pin = new PinState(api, new ChatState(api, (cb) => cb()));
    const first = pin.follow('slow');
    await pin.follow('fast');
    release();
    await first;
    assert.equal(pin.conversationId, 'fast');
    assert.equal(pin.next?.id, 'local');
  });
});

describe('EndpointsState', () => {
  function setup(extra: Record<string, Handler> = {}) {
    const cloud = endpoint('https://api.openai.com/v1', 'gpt-4o-mini', { id: 'openai', name: 'OpenAI', preset: 'openai' });
    const lan = endpoint('http://192.168.1.5:11434/v1', 'llama3', { id: 'lan', name: 'Ollama', preset: 'ollama', tier: 'standard' });
    const fake = fakeApi({ settingsGet: () => ok(publicSettings({ endpoints: [cloud, lan], endpointKeys: ['openai'] })), ...extra });
    const settings = new SettingsState(fake.api);
    const routing = new RoutingState(fake.api);
    routing.state = routerState();
    return { ...fake, settings, endpoints: new EndpointsState(fake.api, settings, routing) };
  }

  test('a preset fills the name and base URL; a typed name is kept', () => {
    const { endpoints } = setup();
    endpoints.startAdd();
    endpoints.choosePreset('groq');
    assert.equal(endpoints.draft?.name, 'Groq');
    assert.equal(endpoints.draft?.baseURL, 'https://api.groq.com/openai/v1');
    endpoints.choosePreset('together');
    assert.equal(endpoints.draft?.name, 'Together', 'a preset’s own name follows the preset');
    endpoints.draft!.name = 'Team account';
    endpoints.choosePreset('openai');
    assert.equal(endpoints.draft?.name, 'Team account');
    assert.equal(endpoints.draft?.baseURL, 'https://api.openai.com/v1');
    endpoints.setCapability('tools', 'no');
    endpoints.setCapability('images', 'yes');
    assert.deepEqual(endpoints.draft?.capabilities, { images: true, tools: false, embeddings: null });
  });

  test('a refused save shows at the field it names and keeps the draft; a saved one closes the form', async () => {
    let attempt = 0;
    const { endpoints, settings, requests } = setup({
      endpointsSave: () =>
        ++attempt === 1
          ? refused('endpoint.tier', 'endpoint.tier: api.example.com is on the internet (standard), so it cannot be declared private')
          : ok(publicSettings({ endpoints: [endpoint('https://api.example.com/v1', 'm', { id: 'example', name: 'Example' })] })),
      endpointsSetKey: () => ok(publicSettings({ endpoints: [endpoint('https://api.example.com/v1', 'm', { id: 'example', name: 'Example' })], endpointKeys: ['example'] })),
    });
    await settings.load();
    endpoints.startAdd();
    Object.assign(endpoints.draft!, { name: 'Example', baseURL: 'https://api.example.com/v1', model: 'm', tier: 'private' });
    assert.equal(await endpoints.saveDraft(), false);
    assert.match(endpoints.fieldError(FORM, 'endpoint.tier') ?? '', /cannot be declared private/);
    assert.equal(endpoints.fieldError(FORM, 'endpoint.baseURL'), null);
    assert.equal(endpoints.otherError(FORM, ['endpoint.tier']), null, 'shown at its field, not twice');
    assert.equal(endpoints.draft?.tier, 'private', 'the draft is kept to be corrected');
    const sent = requests('endpointsSave')[0] as { endpoint: Record<string, unknown> };
    assert.equal(sent.endpoint.id, undefined, 'no id: added');

    endpoints.draft!.tier = null;
    endpoints.draftKey = ' sk-example ';
    assert.equal(await endpoints.saveDraft(), true);
    assert.equal(endpoints.draft, null);
    assert.equal(endpoints.draftKey, '', 'the typed key is not kept');
    assert.equal(endpoints.fieldError(FORM, 'endpoint.tier'), null);
    assert.deepEqual(endpoints.list.map((e) => e.id), ['example']);
    assert.equal(settings.settings?.endpoints[0]?.name, 'Example');
    assert.deepEqual(requests('endpointsSetKey'), [{ id: 'example', apiKey: 'sk-example' }], 'the key goes to the id the services gave it');
    assert.equal(endpoints.hasKey('example'), true);
  });

  test('the form can be tested before saving, with the key typed; a refused key keeps the saved endpoint in the form', async () => {
    const { endpoints, settings, requests } = setup({
      endpointsTest: () => ok({ latencyMs: 7, models: ['m'], learned: {} }),
      endpointsSave: () => ok(publicSettings({ endpoints: [...settings.settings!.endpoints, endpoint('http://10.0.0.2:8080/v1', 'm', { id: 'box', name: 'Box' })] })),
      endpointsSetKey: () => refused('apiKey', 'apiKey: must be at most 4096 characters'),
    });
    await settings.load();
    endpoints.startAdd();
    Object.assign(endpoints.draft!, { name: 'Box', baseURL: ' http://10.0.0.2:8080/v1 ', model: 'm' });
    endpoints.draftKey = 'sk-box';
    await endpoints.testDraft();
    assert.deepEqual(requests('endpointsTest'), [{ baseURL: 'http://10.0.0.2:8080/v1', model: 'm', apiKey: 'sk-box' }]);
    assert.deepEqual(endpoints.tests[FORM], { ok: true, value: { latencyMs: 7, models: ['m'], learned: {} } });
    assert.equal(await endpoints.saveDraft(), false);
    assert.equal(endpoints.draft?.id, 'box', 'now editing the saved endpoint');
    assert.equal(endpoints.draftKey, 'sk-box');
    assert.equal(endpoints.fieldError(FORM, 'apiKey'), 'apiKey: must be at most 4096 characters');
    endpoints.closeForm();
    assert.equal(endpoints.tests[FORM], undefined);
  });

  test('edit, move, keys, test and remove go through the bridge by id', async () => {
    const { endpoints, settings, requests } = setup({
      endpointsSave: () => ok(publicSettings()),
      endpointsMove: () => ok(publicSettings()),
      endpointsSetKey: (r: { id: string; apiKey: string | null }) => (r.apiKey === '' ? refused('apiKey', 'apiKey: too short') : ok(publicSettings({ endpoints: settings.settings!.endpoints, endpointKeys: r.apiKey ? ['openai', r.id] : ['openai'] }))),
      endpointsTest: () => ok({ latencyMs: 42, models: ['llama3', 'qwen'], learned: { images: false } }),
      endpointsRemove: () => ok(publicSettings({ endpoints: [settings.settings!.endpoints[0]!] })),
    });
    await settings.load();
    assert.equal(endpoints.hasKey('openai'), true);
    assert.equal(endpoints.hasKey('lan'), false);
    assert.deepEqual(endpoints.tierOf('lan'), { tier: 'standard', declared: true });
    assert.deepEqual(endpoints.tierOf('openai'), { tier: 'standard', declared: false }, 'from its address, as the route has it');

    endpoints.startEdit('lan');
    assert.equal(endpoints.draft?.id, 'lan');
    assert.equal('learned' in endpoints.draft!, false, 'what the endpoint said is not sent back');
    await endpoints.saveDraft();
    assert.equal((requests('endpointsSave')[0] as { endpoint: { id: string } }).endpoint.id, 'lan', 'with an id: replaced');

    await settings.load();
    assert.equal(await endpoints.move('openai', -1), false, 'the first cannot move up');
    await endpoints.move('lan', -1);
    assert.deepEqual(requests('endpointsMove'), [{ id: 'lan', index: 0 }]);

    await settings.load();
    assert.equal(await endpoints.setKey('lan', 'sk-lan'), true);
    assert.equal(endpoints.hasKey('lan'), true);
    assert.equal(await endpoints.setKey('lan', ''), false);
    assert.equal(endpoints.fieldError('lan', 'apiKey'), 'apiKey: too short');
    assert.equal(endpoints.fieldError('openai', 'apiKey'), null, 'shown at that endpoint only');

    const testing = endpoints.test('lan');
    assert.equal(endpoints.tests.lan, 'testing');
    await testing;
    assert.deepEqual(endpoints.tests.lan, { ok: true, value: { latencyMs: 42, models: ['llama3', 'qwen'], learned: { images: false } } });

    assert.equal(await endpoints.remove('lan'), true);
    assert.deepEqual(requests('endpointsRemove'), [{ id: 'lan' }]);
    assert.deepEqual(endpoints.list.map((e) => e.id), ['openai']);
    assert.equal(endpoints.tests.lan, undefined);
  });
});

describe('EgressState and its exports', () => {
  test('filters become the query; changes reload; live updates only while watched', async () => {
    let active: string | null = 'c7';
    const { api, fire, requests } = fakeApi({
      egressList: () => ok({ entries: [egressEntry()], byEndpoint: [], byDay: [], total: { requests: 1, bytesSent: 512, promptTokens: 20, tokensReceived: 40 } }),
    });
    const egress = new EgressState(api, () => active, (id) => (id === 'openai' ? 'OpenAI' : id));
    assert.deepEqual(egress.query(), {});
    await egress.setFilter('endpointId', 'openai');
    await egress.setFilter('conversation', 'active');
    assert.deepEqual(requests('egressList').at(-1), { endpointId: 'openai', conversationId: 'c7' });
    await egress.setFilter('conversation', 'api');
    assert.deepEqual(requests('egressList').at(-1), { endpointId: 'openai', conversationId: 'api' });
    active = null;
    await egress.setFilter('conversation', 'active');
    assert.deepEqual(requests('egressList').at(-1), { endpointId: 'openai' }, 'no active conversation: all of them');
    await egress.setFilter('from', '2026-01-30');
    await egress.setFilter('to', '2026-01-31');
    assert.deepEqual(requests('egressList').at(-1), {
      endpointId: 'openai', since: new Date(2026, 0, 30).getTime(), until: new Date(2026, 1, 1).getTime(),
    }, 'local days, the last one included');
    assert.equal(egress.report?.total.requests, 1);

    const loads = requests('egressList').length;
    fire('egress:update', egressEntry());
    await settle();
    assert.equal(requests('egressList').length, loads, 'not shown: not reloaded');
    const stop = egress.watch();
    await settle();
    assert.equal(requests('egressList').length, loads + 1, 'opening the view loads it');
    fire('egress:update', egressEntry({ outcome: 'in-flight' }));
    fire('egress:update', egressEntry());
    fire('egress:update', egressEntry());
    await settle();
    await settle();
    assert.equal(requests('egressList').length, loads + 3, 'three updates: one load, and the two during it fold into one more');
    stop();
    fire('egress:update', egressEntry());
    await settle();
    assert.equal(requests('egressList').length, loads + 3, 'closed: no more loads');
  });

  test('JSON and CSV exports carry the entries, endpoint names and no conversation titles', () => {
    const entries = [
      egressEntry({ id: 'e2', model: '=HYPERLINK("http://evil")', why: 'spillover', after: 'timeout', outcome: 'failure', errorKind: 'network', tokensReceived: null, endedAt: null }),
      egressEntry(),
    ];
    const name = (id: string) => (id === 'openai' ? 'OpenAI, Inc.' : id);
    const json = JSON.parse(egressJson(entries, name)) as { entries: Record<string, unknown>[] };
    assert.equal(json.entries.length, 2);
    assert.deepEqual(json.entries[1], {
      time: '2026-01-31T12:00:00.000Z', conversation: 'c1', endpointId: 'openai', endpointName: 'OpenAI, Inc.', host: 'api.openai.com', model: 'gpt-4o-mini',
      tier: 'standard', why: 'cloud-only', after: null, bytesSent: 512, promptTokens: 20, tokensReceived: 40, outcome: 'success', errorKind: null,
      endedAt: '2026-01-31T12:00:02.000Z',
    });
    const lines = egressCsv(entries, name).split('\r\n');
    assert.equal(lines[0], 'time,conversation,endpointId,endpointName,host,model,tier,why,after,bytesSent,promptTokens,tokensReceived,outcome,errorKind,endedAt');
    assert.equal(lines[1], `2026-01-31T12:00:00.000Z,c1,openai,"OpenAI, Inc.",api.openai.com,"'=HYPERLINK(""http://evil"")",standard,spillover,timeout,512,20,,failure,network,`);
    assert.equal(lines.length, 4, 'header, two entries, final line break');
  });
});

describe('SettingsState and MetricsState', () => {
  test('first run means no local model and no enabled endpoint with a model; a refused save names its field', async () => {
    const { api } = fakeApi({
      settingsGet: () => ok(publicSettings({ endpoints: [endpoint('https://x.example/v1', ''), endpoint('https://y.example/v1', 'm', { id: 'y', enabled: false })] })),
      engineStatus: () => ok({ state: 'no-model', modelPath: null, info: null, error: null, queueLength: 0, crashes: 0 }),
      appInfo: () => ok({ version: 't', mode: 'headless', notices: [] }),
      settingsSet: () => refused('patch.routing.cloudTimeoutMs', 'patch.routing.cloudTimeoutMs: must be at least 1000 ms'),
    });
    const state = new SettingsState(api);
    await state.load();
    assert.equal(state.needsSetup, true);
    assert.equal(state.mode, 'headless');
    state.settings!.endpoints[1]!.enabled = true;
    assert.equal(state.needsSetup, false, 'an enabled endpoint with a model can answer');
    assert.equal(await state.save({ routing: { cloudTimeoutMs: 5 } }), false);
    assert.equal(state.error?.field, 'patch.routing.cloudTimeoutMs');
    assert.equal(state.settings?.routing.cloudTimeoutMs, 1000);
  });

  test('the chart splits answers by the kind of entry that gave them', () => {
    const { api, fire } = fakeApi({});
    const metrics = new MetricsState(api);
    const event = (entryKind: 'local' | 'remote', outcome: RoutingEvent['outcome'] = 'success'): RoutingEvent => ({ at: 1000, entryId: entryKind === 'local' ? 'local' : 'openai', entryKind, outcome, latencyMs: 10 });
    fire('metrics:update', { events: [event('local'), event('remote'), event('remote', 'failure')] } as never);
    assert.deepEqual(metrics.points.map((p) => p.kind), ['local', 'remote']);
    assert.equal(failureKinds({ network: 1, timeout: 3, auth: 0 }), 'timeout 3, network 1');
  });
});
