/**
 * The packaging check electron-builder runs after packing (build/after-pack.mjs), on small packed apps
 * laid out on disk: an app.asar with its header, and app.asar.unpacked beside it. The full check, through
 * electron-builder and a stand-in Electron, is `npm run test:pack`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import afterPack, { asarEntries, packedAppProblems } from '../../build/after-pack.mjs';

const work = mkdtempSync(join(tmpdir(), 'spillway-after-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Writes an asar archive (Chromium pickle header + JSON + data); unpacked entries carry no data. */
function writeAsar(path: string, files: Record<string, { data?: string; unpacked?: boolean }>): void {
  const header: { files: Record<string, any> } = { files: {} };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, file] of Object.entries(files)) {
    const parts = name.split('/');
    let node = header;
    for (const part of parts.slice(0, -1)) node = node.files[part] ??= { files: {} };
    const data = Buffer.from(file.data ?? '');
    node.files[parts.at(-1)!] = file.unpacked ? { size: data.length, unpacked: true } : { size: data.length, offset: String(offset) };
    if (!file.unpacked) {
      chunks.push(data);
      offset += data.length;
    }
  }
  const json = Buffer.from(JSON.stringify(header));
  const padded = Math.ceil(json.length / 4) * 4;
  const headerPickle = Buffer.alloc(8 + padded);
  headerPickle.writeUInt32LE(4 + padded, 0);
  headerPickle.writeUInt32LE(json.length, 4);
  json.copy(headerPickle, 8);
  const sizePickle = Buffer.alloc(8);
  sizePickle.writeUInt32LE(4, 0);
  sizePickle.writeUInt32LE(headerPickle.length, 4);
  writeFileSync(path, Buffer.concat([sizePickle, headerPickle, ...chunks]));
}

const APP_FILES = {
  'package.json': { data: '{}' },
  'dist/electron/main/index.js': { data: '' },
  'dist/electron/preload/index.cjs': { data: '' },
  'dist/renderer/index.html': { data: '' },
  'node_modules/node-llama-cpp/package.json': { data: '{}' },
  'node_modules/node-llama-cpp/dist/index.js': { data: '' },
};

let apps = 0;

/** A packed app's resources folder: the asar, plus these files in app.asar.unpacked. */
function packedApp(asarFiles: Record<string, { data?: string; unpacked?: boolean }>, unpackedFiles: string[]): string {
  const resources = join(work, `app-${++apps}`, 'resources');
  mkdirSync(resources, { recursive: true });
  const unpackedEntries = Object.fromEntries(unpackedFiles.map((file) => [file, { unpacked: true }]));
  writeAsar(join(resources, 'app.asar'), { ...APP_FILES, ...unpackedEntries, ...asarFiles });
  for (const file of unpackedFiles) {
    const path = join(resources, 'app.asar.unpacked', file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'binary');
  }
  return resources;
}

const LINUX_X64 = ['node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node', 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.so'];

describe('after-pack check', () => {
  it('reads the file list of an asar, unpacked entries marked', () => {
    const resources = packedApp({}, LINUX_X64);
    const entries = asarEntries(join(resources, 'app.asar'));
    assert.ok(entries.some((entry) => entry.path === 'dist/electron/main/index.js' && !entry.unpacked), JSON.stringify(entries));
    assert.ok(entries.some((entry) => entry.path === LINUX_X64[0] && entry.unpacked), JSON.stringify(entries));
  });

  it('passes an app with its own binaries unpacked', () => {
    assert.deepEqual(packedAppProblems(packedApp({}, LINUX_X64), 'linux', 'x64'), []);
  });

  it('fails an app whose binaries are missing, saying why and what to do', () => {
    const problems = packedAppProblems(packedApp({}, []), 'linux', 'x64');
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^No node-llama-cpp binary for linux-x64 in .*app\.asar\.unpacked/);
    assert.match(problems[0]!, /on a linux-x64 machine/);
  });

  it('fails an Intel macOS app that only has the Apple Silicon binaries (built on an arm64 Mac)', () => {
    const resources = packedApp({}, ['node_modules/@node-llama-cpp/mac-arm64-metal/bins/mac-arm64-metal/llama-addon.node']);
    const problems = packedAppProblems(resources, 'mac', 'x64');
    assert.ok(problems.some((problem) => problem.startsWith('No node-llama-cpp binary for mac-x64')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('another platform is packed: @node-llama-cpp/mac-arm64-metal/')), problems.join('\n'));
  });

  it('counts GPU variants of the target and binaries inside node-llama-cpp itself', () => {
    assert.deepEqual(packedAppProblems(packedApp({}, ['node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan/llama-addon.node']), 'linux', 'x64'), []);
    assert.deepEqual(packedAppProblems(packedApp({}, ['node_modules/node-llama-cpp/llama/localBuilds/linux-x64/Release/llama-addon.node']), 'linux', 'x64'), []);
  });

  it('fails a native module left inside the asar, and what must never be packed', () => {
    const resources = packedApp(
      {
        'node_modules/some-addon/addon.node': { data: 'x' },
        'node_modules/node-llama-cpp/llama/gitRelease.bundle': { data: 'x' },
        'node_modules/node-llama-cpp/dist/index.js.map': { data: '{}' },
        'node_modules/electron/package.json': { data: '{}' },
      },
      LINUX_X64,
    );
    const problems = packedAppProblems(resources, 'linux', 'x64');
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('inside app.asar') && problem.includes('some-addon/addon.node')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('llama.cpp source bundle')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('source maps')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('the electron package')), problems.join('\n'));
  });

  it('as electron-builder’s hook: throws with every problem, looks inside the .app on macOS', async () => {
    const linux = packedApp({}, LINUX_X64);
    const context = (appOutDir: string, electronPlatformName: string, arch: number) => ({ appOutDir, electronPlatformName, arch, packager: { appInfo: { productFilename: 'Spillway' } } });
    await afterPack(context(dirname(linux), 'linux', 1));
    await assert.rejects(afterPack(context(dirname(linux), 'linux', 3)), /not fit to ship:\n {2}- No node-llama-cpp binary for linux-arm64/);

    const macOut = join(work, 'mac-out');
    const macResources = join(macOut, 'Spillway.app', 'Contents', 'Resources');
    mkdirSync(dirname(macResources), { recursive: true });
    const source = packedApp({}, ['node_modules/@node-llama-cpp/mac-arm64-metal/bins/mac-arm64-metal/llama-addon.node']);
    rmSync(macResources, { recursive: true, force: true });
    renameSync(source, macResources);
    await afterPack(context(macOut, 'darwin', 3));
    await assert.rejects(afterPack(context(macOut, 'darwin', 1)), /No node-llama-cpp binary for mac-x64/);
  });
});
