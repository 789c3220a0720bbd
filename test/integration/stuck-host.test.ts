/**
 * A stuck local engine, for real: the inference host process is stopped with SIGSTOP (it neither answers
 * nor dies) at each step — before it loads, while the model is loaded and idle, mid-answer — and the
 * route must end every request within its deadline, spill over under Local first, fail clearly under Local
 * only, and restart the host so the next request is answered locally again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RoutingDriver } from '../../electron/core/router.js';
import type { ChatMessage } from '../../electron/core/types.js';
import type { HostHandle } from '../../electron/drivers/host-process.js';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { RemoteDriver } from '../../electron/drivers/remote-driver.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fixtures/fake-openai-server.js';
import { freeze, killFrozen, trackingLauncher } from '../fixtures/hosts.js';
import { ANSWER, makeFixtureModels, type FixtureModels } from '../fixtures/models.js';
import { isRunning, until } from '../fixtures/processes.js';

const hello: ChatMessage[] = [{ role: 'user', content: 'Hello there' }];
const CLOUD_REPLY = 'The cloud answers while the local engine is stuck.';
/** Deadlines short enough for a test, long enough for a real load of the generated model on a busy machine. */
const FIRST_TOKEN_MS = 1500;
const IDLE_MS = 800;
const LOAD_MS = 1500;
/** What the issue allows past the first-token deadline for the next entry's first token. */
const SLACK_MS = 1000;

let models: FixtureModels;
let cloud: FakeOpenAIServer;
const drivers: LocalDriver[] = [];

/** Forks real hosts and remembers each, so a test can stop one; `stopAtStart` freezes the next one at once. */
function stoppableLauncher() {
  const state = { stopAtStart: false };
  const { launcher, launched } = trackingLauncher((host) => {
    if (state.stopAtStart && host.pid) freeze(host.pid);
    state.stopAtStart = false;
  });
  return { launcher, launched, state };
}

async function waitUntil(check: () => boolean, what: string, ms = 5000): Promise<void> {
  assert.ok(await until(check, ms, 20), `timed out waiting for ${what}`);
}

function route(local: LocalDriver, strategy: 'local-first' | 'local-only') {
  const remote = new RemoteDriver({ id: 'cloud', name: 'Fake cloud', baseURL: cloud.baseURL, model: 'cloud-model' });
  return new RoutingDriver({
    route: [{ driver: local, kind: 'local' }, { driver: remote, kind: 'remote' }],
    strategy,
    loadTimeoutMs: LOAD_MS,
    firstTokenTimeoutMs: FIRST_TOKEN_MS,
    idleTimeoutMs: IDLE_MS,
  });
}

function localDriver(model: string, launcher: () => HostHandle): LocalDriver {
  const driver = new LocalDriver({ modelPath: model, gpu: false, launcher, abortGraceMs: 500 });
  drivers.push(driver);
  return driver;
}

/** Sends one request and times it: to the first text and to the end. */
async function timed(router: RoutingDriver) {
  const started = performance.now();
  let firstTextMs: number | null = null;
  try {
    const response = await router.complete({ messages: hello, onText: () => (firstTextMs ??= performance.now() - started) });
    return { response, error: null, firstTextMs, totalMs: performance.now() - started };
  } catch (error) {
    return { response: null, error: error as Error & { kind?: string }, firstTextMs, totalMs: performance.now() - started };
  }
}

before(async () => {
  models = makeFixtureModels();
  cloud = await startFakeOpenAI({ reply: CLOUD_REPLY });
});
after(async () => {
  killFrozen();
  await Promise.all(drivers.map((d) => d.dispose()));
  await cloud.close();
  models.cleanup();
});

describe('a stopped inference host', { timeout: 120_000 }, () => {
  test('loaded and idle, under Local first: the cloud answers within the first-token deadline + 1 s, and the host is restarted', async () => {
    const { launcher, launched } = stoppableLauncher();
    const local = localDriver(models.answer, launcher);
    const router = route(local, 'local-first');
    await local.load();
    assert.equal((await router.complete({ messages: hello })).text, ANSWER, 'warm: the model is loaded');
    const first = launched[0]!;
    freeze(first.pid!);

    const stuck = await timed(router);
    assert.ok(stuck.response, String(stuck.error));
    assert.equal(stuck.response.text, CLOUD_REPLY);
    assert.equal(stuck.response.entryId, 'cloud');
    assert.equal(stuck.response.spilledAfter?.kind, 'timeout');
    assert.match(stuck.response.spilledAfter?.message ?? '', /did not finish reading the prompt within 1\.5 s/);
    assert.ok(stuck.firstTextMs !== null && stuck.firstTextMs <= FIRST_TOKEN_MS + SLACK_MS, `the cloud's first text came after ${stuck.firstTextMs} ms`);

    // The host did not answer a ping: it is killed, and the next request starts a fresh one.
    await waitUntil(() => !isRunning(first.pid!), 'the stuck host to be killed');
    await local.load();
    const again = await router.complete({ messages: hello });
    assert.equal(again.text, ANSWER);
    assert.equal(again.entryId, 'local');
    assert.equal(launched.length, 2);
    assert.notEqual(launched[1]!.pid, first.pid);
  });

  test('under Local only: a clear timeout within the deadline, and nothing is sent anywhere', async () => {
    const { launcher, launched } = stoppableLauncher();
    const local = localDriver(models.answer, launcher);
    const router = route(local, 'local-only');
    await local.load();
    const before = cloud.chatRequests().length;
    freeze(launched[0]!.pid!);
    const stuck = await timed(router);
    assert.equal(stuck.error?.kind, 'timeout', String(stuck.error));
    assert.match(stuck.error?.message ?? '', /The local model did not finish reading the prompt within 1\.5 s/);
    assert.ok(stuck.totalMs <= FIRST_TOKEN_MS + SLACK_MS, `failed after ${stuck.totalMs} ms`);
    assert.equal(cloud.chatRequests().length, before);
  });

  test('before it loads: the load deadline spills over, and the next host loads normally', async () => {
    const { launcher, launched, state } = stoppableLauncher();
    state.stopAtStart = true;
    const local = localDriver(models.answer, launcher);
    const router = route(local, 'local-first');
    const stuck = await timed(router);
    assert.ok(stuck.response, String(stuck.error));
    assert.equal(stuck.response.entryId, 'cloud');
    assert.match(stuck.response.spilledAfter?.message ?? '', /did not finish loading within 1\.5 s/);
    assert.ok(stuck.firstTextMs !== null && stuck.firstTextMs <= LOAD_MS + SLACK_MS, `the cloud's first text came after ${stuck.firstTextMs} ms`);
    await waitUntil(() => !isRunning(launched[0]!.pid!), 'the frozen host to be killed');
    // A fresh host (not frozen) loads and answers; a cold start of llama.cpp may take longer than the test's deadline.
    await local.load();
    assert.equal((await router.complete({ messages: hello })).entryId, 'local');
  });

  test('mid-answer: the answer ends incomplete after the idle deadline, with what had streamed, and is not continued elsewhere', async () => {
    const { launcher, launched } = stoppableLauncher();
    const local = localDriver(models.loop, launcher);
    const router = route(local, 'local-first');
    await local.load();
    const before = cloud.chatRequests().length;
    let text = '';
    let frozenAt = 0;
    const pending = router.complete({
      messages: hello,
      maxTokens: 400,
      onText: (t) => {
        text += t;
        if (!frozenAt) {
          frozenAt = performance.now();
          freeze(launched[0]!.pid!);
        }
      },
    });
    const response = await pending;
    const afterFreeze = performance.now() - frozenAt;
    assert.equal(response.stopReason, 'error');
    assert.equal(response.incomplete?.kind, 'timeout');
    assert.match(response.incomplete?.message ?? '', /stopped producing text for 800 ms/);
    assert.ok(response.text.startsWith('tick') && response.text === text, 'the partial text is kept');
    assert.ok(afterFreeze <= IDLE_MS + SLACK_MS, `ended ${afterFreeze} ms after the host froze`);
    assert.equal(cloud.chatRequests().length, before, 'a half answer is never continued on another model');
    await waitUntil(() => !isRunning(launched[0]!.pid!), 'the frozen host to be killed');
  });
});
