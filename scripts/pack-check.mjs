/**
 * `npm run test:pack`: packs the Linux `dir` target with electron-builder, as `npm run dist` would, but
 * against a stand-in for Electron's binary (electron-builder's `electronDist`), so it runs where Electron
 * cannot be downloaded. It shows that:
 *   - the configuration packs, and the afterPack check (build/after-pack.mjs) passes on the result;
 *   - the Electron fuses are flipped in the packed executable;
 *   - the same build fails in afterPack once node-llama-cpp's binaries are left out, and the check fails
 *     on the packed app once its binaries are deleted;
 * and it prints the packed sizes. Needs `npm run build` first (the npm script does it). Linux only.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arch, Platform, build } from 'electron-builder';
import { packedAppProblems } from '../build/after-pack.mjs';

const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Electron's fuses in wire order, with a stock binary's states (1 on, 0 off). */
const FUSES = ['runAsNode', 'cookieEncryption', 'nodeOptions', 'nodeCliInspect', 'embeddedAsarIntegrityValidation', 'onlyLoadAppFromAsar', 'loadBrowserProcessSpecificV8Snapshot', 'grantFileProtocolExtraPrivileges', 'wasmTrapHandlers'];
const STOCK_WIRE = '101100011';
/** What electron-builder.yml's electronFuses must have made of them. */
const EXPECTED_FUSES = { runAsNode: '1', cookieEncryption: '1', nodeOptions: '0', nodeCliInspect: '0', onlyLoadAppFromAsar: '1' };

const root = fileURLToPath(new URL('../', import.meta.url));

function fail(message) {
  process.stderr.write(`pack-check: ${message}\n`);
  process.exit(1);
}

/** A folder laid out like an unpacked Linux Electron: the executable (with a fuse wire), resources, locales. */
function standInElectron(dir, version) {
  mkdirSync(join(dir, 'resources'), { recursive: true });
  mkdirSync(join(dir, 'locales'), { recursive: true });
  const wire = Buffer.concat([Buffer.from(FUSE_SENTINEL), Buffer.from([1, FUSES.length]), Buffer.from(STOCK_WIRE)]);
  writeFileSync(join(dir, 'electron'), Buffer.concat([Buffer.from('#!/bin/sh\necho "stand-in for Electron; cannot run the app" >&2\nexit 1\n# '), wire, Buffer.from('\n')]));
  chmodSync(join(dir, 'electron'), 0o755);
  writeFileSync(join(dir, 'version'), version);
  writeFileSync(join(dir, 'LICENSE'), 'Stand-in for the Electron license file.\n');
  writeFileSync(join(dir, 'LICENSES.chromium.html'), '<!-- stand-in -->\n');
  writeFileSync(join(dir, 'locales', 'en-US.pak'), '');
  return dir;
}

function fuseWire(executable) {
  const bytes = readFileSync(executable);
  const at = bytes.indexOf(FUSE_SENTINEL);
  if (at < 0) fail(`no fuse wire in ${executable}`);
  const start = at + FUSE_SENTINEL.length;
  const length = bytes[start + 1];
  const states = bytes.subarray(start + 2, start + 2 + length).toString('latin1');
  return Object.fromEntries(FUSES.map((name, index) => [name, states[index]]));
}

function size(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, name) => total + size(join(path, name)), 0);
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1).padStart(7)} MB`;

async function pack(output, electronDist, extra = {}) {
  const arch = Arch[process.arch];
  if (arch === undefined) fail(`no electron-builder arch for ${process.arch}`);
  await build({
    targets: Platform.LINUX.createTarget('dir', arch),
    publish: 'never',
    config: { electronDist, directories: { output }, ...extra },
  });
  return join(output, arch === Arch.x64 ? 'linux-unpacked' : `linux-${process.arch}-unpacked`);
}

if (process.platform !== 'linux') fail('the stand-in Electron is a Linux one; run this on Linux.');
if (!existsSync(join(root, 'dist/electron/main/index.js'))) fail('the app is not built; run `npm run build` (or `npm run test:pack`).');

const { version } = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'spillway-pack-'));
try {
  const electronDist = standInElectron(join(work, 'electron'), version);

  // 1. The real configuration packs, and afterPack passes (it throws otherwise).
  const appDir = await pack(join(work, 'ok'), electronDist);
  const resources = join(appDir, 'resources');
  const target = `linux-${process.arch}`;
  const problems = packedAppProblems(resources, 'linux', process.arch);
  if (problems.length > 0) fail(`the packed app has problems the hook let through:\n${problems.join('\n')}`);

  // 2. The fuses were flipped in the packed executable.
  const fuses = fuseWire(join(appDir, 'spillway'));
  for (const [name, state] of Object.entries(EXPECTED_FUSES)) {
    if (fuses[name] !== state) fail(`fuse ${name} is ${fuses[name]} in the packed executable, expected ${state}`);
  }

  // 3. Sizes, with the stand-in's few bytes in place of Electron.
  const unpacked = join(resources, 'app.asar.unpacked');
  const scope = join(unpacked, 'node_modules/@node-llama-cpp');
  console.log(`\nPacked ${target} (dir target, stand-in Electron of ${size(electronDist)} bytes):`);
  console.log(`${mb(size(appDir))}  ${appDir}`);
  console.log(`${mb(size(join(resources, 'app.asar')))}  resources/app.asar`);
  console.log(`${mb(size(unpacked))}  resources/app.asar.unpacked`);
  for (const name of readdirSync(scope)) console.log(`${mb(size(join(scope, name)))}    @node-llama-cpp/${name}`);
  console.log(`fuses: ${Object.entries(fuses).map(([name, state]) => `${name}=${state}`).join(' ')}`);

  // 4. Without the binaries the check fails: on the packed app, and as part of the build.
  for (const name of readdirSync(scope)) rmSync(join(scope, name, 'bins'), { recursive: true, force: true });
  const afterRemoval = packedAppProblems(resources, 'linux', process.arch);
  if (!afterRemoval.some((problem) => problem.startsWith(`No node-llama-cpp binary for ${target}`))) {
    fail(`the check passed an app whose binaries were deleted: ${JSON.stringify(afterRemoval)}`);
  }
  let built = false;
  try {
    await pack(join(work, 'no-binaries'), electronDist, { files: ['!node_modules/@node-llama-cpp/**'] });
    built = true;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!message.includes(`No node-llama-cpp binary for ${target}`)) fail(`the build without binaries failed for another reason: ${message}`);
    console.log(`\nWithout the binaries, afterPack stopped the build:\n${message.split('\n').slice(0, 2).join('\n')}`);
  }
  if (built) fail('a build without node-llama-cpp binaries passed: the afterPack check is not wired in');
  console.log('\npack-check: packs and passes afterPack; fails afterPack without the node-llama-cpp binaries.');
} finally {
  rmSync(work, { recursive: true, force: true });
}
