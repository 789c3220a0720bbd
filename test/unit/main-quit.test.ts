/**
 * How Electron main ends: one clean shutdown, whatever asks for it (a quit, a Windows log-off or
 * shutdown, a Linux/macOS system shutdown), finished before the process exits or cut off by a timeout.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { App, BrowserWindow, PowerMonitor } from 'electron';
import { cleanExit, endOnQuitAndShutdown, endOnSessionEnd } from '../../electron/main/lifecycle.js';

class FakeEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

function recorder(stop: () => Promise<unknown>, timeoutMs = 1000): { exits: number[]; stops: () => number; shutdown: () => Promise<void> } {
  const exits: number[] = [];
  let stops = 0;
  const shutdown = cleanExit({
    stop: () => {
      stops++;
      return stop();
    },
    exit: (code) => exits.push(code),
    timeoutMs,
  });
  return { exits, stops: () => stops, shutdown };
}

describe('clean exit', () => {
  it('stops once, then exits 0, however many times it is asked', async () => {
    let finish!: () => void;
    const { exits, stops, shutdown } = recorder(() => new Promise<void>((resolve) => (finish = resolve)));
    const first = shutdown();
    const second = shutdown();
    assert.equal(stops(), 1);
    assert.deepEqual(exits, [], 'waits for the stop');
    finish();
    await Promise.all([first, second]);
    assert.deepEqual(exits, [0]);
  });

  it('exits after the timeout when the stop hangs, and when it fails', async () => {
    const hung = recorder(() => new Promise(() => {}), 30);
    await hung.shutdown();
    assert.deepEqual(hung.exits, [0]);
    const failed = recorder(() => Promise.reject(new Error('disk full')));
    await failed.shutdown();
    assert.deepEqual(failed.exits, [0]);
  });

  it('holds the app’s quit and the system shutdown for the one shutdown', async () => {
    const app = new EventEmitter();
    const power = new EventEmitter();
    const { exits, stops, shutdown } = recorder(() => Promise.resolve());
    endOnQuitAndShutdown(app as unknown as App, power as unknown as PowerMonitor, shutdown);
    const quit = new FakeEvent();
    app.emit('before-quit', quit);
    const systemShutdown = new FakeEvent();
    power.emit('shutdown', systemShutdown);
    assert.equal(quit.defaultPrevented, true, 'the quit waits for the clean shutdown');
    assert.equal(systemShutdown.defaultPrevented, true, 'the OS is asked to wait');
    assert.equal(stops(), 1, 'started by the quit, not again by the shutdown');
    await shutdown();
    assert.deepEqual(exits, [0]);
  });

  it('runs the shutdown on a Windows log-off, from the first of its two window events', async () => {
    for (const event of ['query-session-end', 'session-end']) {
      const window = new EventEmitter();
      const { exits, stops, shutdown } = recorder(() => Promise.resolve());
      endOnSessionEnd(window as unknown as BrowserWindow, shutdown);
      window.emit(event, new FakeEvent());
      assert.equal(stops(), 1, `${event} starts the shutdown`);
      await shutdown();
      assert.deepEqual(exits, [0], event);
    }
  });
});
