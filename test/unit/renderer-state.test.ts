/** The renderer's state classes against a fake bridge: what the window shows, without a window. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EventName, Events, Result, SpillwayApi } from '../../electron/contract/index.js';
import { ChatState } from '../../renderer/src/lib/state/chat.svelte.js';
import { describeTier, RoutingState } from '../../renderer/src/lib/state/routing.svelte.js';
import { SettingsState } from '../../renderer/src/lib/state/settings.svelte.js';

type Handler = (request: never) => Promise<Result<unknown>>;

/** A bridge whose calls are scripted per test and whose events the test fires. */
function fakeApi(handlers: Record<string, Handler>) {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const calls: { name: string; request: unknown }[] = [];
  const api = new Proxy({} as Record<string, unknown>, {
    get(_target, name: string) {
      if (name === 'on') {
        return (event: string, listener: (payload: unknown) => void) => {
          if (!listeners.has(event)) listeners.set(event, new Set());
          listeners.get(event)!.add(listener);
          return () => listeners.get(event)!.delete(listener);
        };
      }
      return async (request: unknown) => {
        calls.push({ name, request });
        const handler = handlers[name];
        if (!handler) return { ok: false, error: { code: 'INTERNAL', message: `unscripted ${name}`, retryable: false } };
        return handler(request as never);
      };
    },
  }) as unknown as SpillwayApi;
  const fire = <E extends EventName>(event: E, payload: Events[E]): void => {
    for (const listener of listeners.get(event) ?? []) listener(payload);
  };
  return { api, fire, calls };
}

const ok = <T>(value: T): Promise<Result<T>> => Promise.resolve({ ok: true, value });

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
      driverId: 'local', source: 'local' as const, model: 'm', stopReason: 'stop' as const, usage: { inputTokens: 1, outputTokens: 3 },
      timeToFirstTokenMs: 5, totalMs: 20, tokensPerSecond: 100 } };
    fire('chat:done', { requestId: 'r1', conversationId: 'c1', result: { ok: true, value: stored } });
    await new Promise((r) => setImmediate(r));
    assert.equal(chat.busy, false);
    assert.equal(chat.messages[1]!.id, 'a1');
    assert.equal(chat.messages[1]!.meta?.source, 'local');
  });

  test('a failed answer keeps what streamed and carries the error; sending while busy is refused', async () => {
    const { api, fire, calls } = fakeApi({
      chatSend: () => ok({ requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' }),
      conversationsList: () => ok([]),
      chatCancel: () => ok({ cancelled: true }),
    });
    const chat = new ChatState(api, (cb) => cb());
    await chat.send('Hi');
    assert.equal(await chat.send('again'), false);
    fire('chat:delta', { requestId: 'r1', conversationId: 'c1', text: 'Part' });
    await chat.stop();
    assert.deepEqual(calls.filter((c) => c.name === 'chatCancel').map((c) => c.request), [{ requestId: 'r1' }]);
    fire('chat:done', { requestId: 'r1', conversationId: 'c1', result: { ok: false, error: { code: 'TIMEOUT', message: 'too slow', retryable: true } } });
    await new Promise((r) => setImmediate(r));
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
        return { ok: true, value: { requestId: 'r1', conversationId: 'c1', userMessageId: 'u1' } };
      },
      conversationsList: () => ok([]),
    });
    fire = fake.fire;
    const chat = new ChatState(fake.api, (cb) => cb());
    await chat.send('Hi');
    await new Promise((r) => setImmediate(r));
    assert.equal(chat.busy, false);
    assert.equal(chat.messages[1]!.content, 'Early');
    assert.equal(chat.messages[1]!.error?.code, 'PRIVACY_BLOCKED');
  });

  test('an empty message is not sent; a refused send shows the error', async () => {
    const { api, calls } = fakeApi({
      chatSend: () => Promise.resolve({ ok: false, error: { code: 'INVALID_ARGUMENT', message: 'content: must not be empty', retryable: false, field: 'content' } }),
    });
    const chat = new ChatState(api, (cb) => cb());
    assert.equal(await chat.send('   '), false);
    assert.equal(calls.length, 0);
    assert.equal(await chat.send('x'), false);
    assert.equal(chat.error?.code, 'INVALID_ARGUMENT');
  });
});

describe('RoutingState and SettingsState', () => {
  test('strategy and lock go through the bridge; the tier reads in plain words', async () => {
    const state = { strategy: 'local-first' as const, privacyLock: null, privacyTier: 'standard' as const, cloudHost: 'api.openai.com', hasLocalModel: true, hasCloud: true };
    const { api, calls } = fakeApi({
      routerGet: () => ok(state),
      routerSetStrategy: (r: { strategy: 'cloud-only' }) => ok({ ...state, strategy: r.strategy }),
      routerSetPrivacyLock: () => ok({ ...state, privacyLock: 'sovereign', privacyTier: 'sovereign' }),
    });
    const routing = new RoutingState(api);
    await routing.load();
    assert.equal(routing.tierText, 'May be sent to api.openai.com');
    await routing.setStrategy('cloud-only');
    assert.equal(routing.state?.strategy, 'cloud-only');
    await routing.setLocked(true);
    assert.deepEqual(calls.at(-1), { name: 'routerSetPrivacyLock', request: { lock: 'sovereign' } });
    assert.equal(routing.locked, true);
    assert.equal(routing.tierText, 'Nothing leaves this computer');
    assert.equal(describeTier('private', '192.168.1.5:11434'), 'May reach a server on your network (192.168.1.5:11434)');
  });

  test('a refused save keeps the error with its field; first run is detected', async () => {
    const settings = {
      routing: { strategy: 'local-first', privacyLock: null, firstTokenTimeoutMs: 1, idleTimeoutMs: 1, circuitThreshold: 3, circuitCooldownMs: 1 },
      local: { modelPath: null, threads: null, gpuLayers: 'auto', contextSize: null },
      cloud: { preset: 'custom', baseURL: null, model: '', contextWindow: 1000, privacyTier: null },
      generation: { systemPrompt: '', temperature: 0.7, maxTokens: null },
      server: { enabled: false, port: 8766 },
      cloudApiKeySet: false,
    };
    const { api } = fakeApi({
      settingsGet: () => ok(settings),
      engineStatus: () => ok({ state: 'no-model', modelPath: null, info: null, error: null, queueLength: 0, crashes: 0 }),
      appInfo: () => ok({ version: 't', mode: 'headless', notices: [] }),
      settingsSet: () => Promise.resolve({ ok: false, error: { code: 'INVALID_ARGUMENT', message: 'patch.cloud.baseURL: must be an http:// or https:// URL', retryable: false, field: 'patch.cloud.baseURL' } }),
    });
    const state = new SettingsState(api);
    await state.load();
    assert.equal(state.needsSetup, true);
    assert.equal(state.mode, 'headless');
    assert.equal(await state.save({ cloud: { baseURL: 'ftp://x' } }), false);
    assert.equal(state.error?.field, 'patch.cloud.baseURL');
    assert.equal(state.settings?.cloud.baseURL, null);
  });
});

