import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { ForkOptions, UtilityProcess } from 'electron';
import { hostEntryPath, type HostExit } from '../../electron/drivers/host-process.js';
import type { HostMessage } from '../../electron/inference/protocol.js';
import { utilityHostLauncher } from '../../electron/main/host-launcher.js';
import { LocalServer, type RunningServer, type StartServer } from '../../electron/main/local-server.js';

class FakeUtilityProcess extends EventEmitter {
  readonly posted: unknown[] = [];
  readonly stderr = new PassThrough();
  killed = 0;
  postMessage(message: unknown): void {
    this.posted.push(message);
  }
  kill(): boolean {
    this.killed++;
    return true;
  }
}

function launcher(): { forks: Array<{ modulePath: string; args?: string[]; options?: ForkOptions }>; child: () => FakeUtilityProcess; launch: ReturnType<typeof utilityHostLauncher> } {
  const forks: Array<{ modulePath: string; args?: string[]; options?: ForkOptions }> = [];
  let last: FakeUtilityProcess | null = null;
  const launch = utilityHostLauncher((modulePath, args, options) => {
    forks.push({ modulePath, ...(args ? { args } : {}), ...(options ? { options } : {}) });
    last = new FakeUtilityProcess();
    return last as unknown as UtilityProcess;
  });
  return { forks, child: () => last!, launch };
}

describe('utilityProcess host launcher', () => {
  it('forks the host entry with a service name, piped stderr only and main’s pid', () => {
    const { forks, launch } = launcher();
    launch();
    assert.equal(forks.length, 1);
    assert.equal(forks[0]!.modulePath, hostEntryPath());
    assert.deepEqual(forks[0]!.options, { serviceName: 'Spillway inference', stdio: ['ignore', 'ignore', 'pipe'] });
    assert.deepEqual(forks[0]!.args, ['--parent-pid', String(process.pid)], 'the host is told whom to outlive');
  });

  it('carries requests and messages both ways', () => {
    const { child, launch } = launcher();
    const host = launch();
    const received: HostMessage[] = [];
    host.onMessage((message) => received.push(message));
    host.send({ kind: 'abort', id: 7 });
    assert.deepEqual(child().posted, [{ kind: 'abort', id: 7 }]);
    child().emit('message', { kind: 'delta', id: 7, text: 'hi' });
    assert.deepEqual(received, [{ kind: 'delta', id: 7, text: 'hi' }]);
  });

  it('reports the exit with the tail of stderr, including a chunk that arrives after the exit', async () => {
    const { child, launch } = launcher();
    const host = launch();
    const exits: HostExit[] = [];
    const exited = new Promise<void>((resolve) =>
      host.onExit((exit) => {
        exits.push(exit);
        resolve();
      }),
    );
    child().stderr.write('loading model\n');
    child().emit('exit', 134);
    child().stderr.end('GGML_ASSERT(n_tokens > 0) failed\n');
    await exited;
    assert.deepEqual(exits, [{ code: 134, signal: null, output: 'loading model\nGGML_ASSERT(n_tokens > 0) failed' }]);
  });

  it('neither posts to nor kills a process that has exited', () => {
    const { child, launch } = launcher();
    const host = launch();
    host.kill();
    assert.equal(child().killed, 1);
    child().emit('exit', 0);
    host.send({ kind: 'abort', id: 1 });
    host.kill();
    assert.deepEqual(child().posted, []);
    assert.equal(child().killed, 1);
  });
});

function servers(failPorts: number[] = []): { start: StartServer; log: string[]; notices: string[] } {
  const log: string[] = [];
  const notices: string[] = [];
  const start: StartServer = async ({ host, port }) => {
    log.push(`start ${host}:${port}`);
    if (failPorts.includes(port)) throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${host}:${port}`), { code: 'EADDRINUSE' });
    const server: RunningServer = {
      url: `http://${host}:${port}`,
      port,
      close: async () => {
        log.push(`close ${port}`);
      },
    };
    return server;
  };
  return { start, log, notices };
}

describe('local API server toggle', () => {
  it('starts on 127.0.0.1 when enabled, restarts on a port change, stops when disabled', async () => {
    const { start, log, notices } = servers();
    const server = new LocalServer({ start, notify: (_level, message) => notices.push(message) });
    await server.apply({ enabled: false, port: 8766 });
    assert.deepEqual(log, []);
    await server.apply({ enabled: true, port: 8766 });
    assert.equal(server.url, 'http://127.0.0.1:8766');
    await server.apply({ enabled: true, port: 8766 });
    await server.apply({ enabled: true, port: 9000 });
    await server.apply({ enabled: false, port: 9000 });
    assert.equal(server.url, null);
    assert.deepEqual(log, ['start 127.0.0.1:8766', 'close 8766', 'start 127.0.0.1:9000', 'close 9000']);
    assert.equal(notices.length, 2);
  });

  it('applies quick toggles in order, never leaving two servers', async () => {
    const { start, log } = servers();
    const server = new LocalServer({ start, notify: () => {} });
    void server.apply({ enabled: true, port: 8766 });
    void server.apply({ enabled: false, port: 8766 });
    void server.apply({ enabled: true, port: 8767 });
    await server.stop();
    assert.deepEqual(log, ['start 127.0.0.1:8766', 'close 8766', 'start 127.0.0.1:8767', 'close 8767']);
  });

  it('tells the user once when the port is taken, and retries only when the port changes', async () => {
    const { start, log } = servers([8766]);
    const notices: Array<[string, string]> = [];
    const server = new LocalServer({ start, notify: (level, message) => notices.push([level, message]) });
    await server.apply({ enabled: true, port: 8766 });
    await server.apply({ enabled: true, port: 8766 }); // an unrelated settings change
    assert.equal(server.url, null);
    assert.equal(notices.length, 1);
    assert.equal(notices[0]![0], 'error');
    assert.match(notices[0]![1], /already in use/);
    await server.apply({ enabled: true, port: 8767 });
    assert.equal(server.url, 'http://127.0.0.1:8767');
    assert.deepEqual(log, ['start 127.0.0.1:8766', 'start 127.0.0.1:8767']);
  });
});
