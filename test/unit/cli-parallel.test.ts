/** `--parallel N`: how many requests the local model answers at once, for this run only. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HELP_TEXT, parseServeArgs, UsageError } from '../../electron/server/cli-args.js';

function config(argv: string[]) {
  const parsed = parseServeArgs(argv, {});
  assert.ok(!parsed.help, 'parsed as --help');
  return parsed.config;
}

describe('--parallel', () => {
  test('sets local.parallel beside --model, in either order', () => {
    assert.deepEqual(config(['--model', '/m.gguf', '--parallel', '3']).overrides.local, { modelPath: '/m.gguf', parallel: 3 });
    assert.deepEqual(config(['--parallel', '1']).overrides.local, { parallel: 1 });
    assert.equal(config([]).overrides.local, undefined, 'absent: the stored setting (or the memory fit) decides');
  });

  test('refuses anything but a whole number from 1 to 16, naming the flag', () => {
    for (const bad of ['0', '17', 'two', '2.5', '99', '']) {
      assert.throws(() => parseServeArgs(['--parallel', bad], {}), (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.equal(error.message, `--parallel must be a whole number from 1 to 16, not "${bad}"`);
        return true;
      });
    }
  });

  test('is described in --help', () => {
    assert.match(HELP_TEXT, /--parallel <n>\s+Requests the local model answers at once, 1 to 16/);
  });
});
