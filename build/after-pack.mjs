/**
 * electron-builder's afterPack hook: stops the build when the packed app could not run a local model, or
 * carries what it must not. node-llama-cpp runs with build: 'never', so a missing binary would only show
 * at run time, on the user's machine. npm installs the @node-llama-cpp/<os>-<arch> packages for the
 * machine it runs on only, so an x64 package built on an arm64 Mac has none: each target is built on its
 * own OS and architecture (see node-llama-cpp's Electron guide, "Cross Compilation").
 *
 * `node build/after-pack.mjs <resources dir> <os> <arch>` runs the same check on a packed app.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** electron-builder's Arch enum, by value. */
const ARCH_NAMES = ['ia32', 'x64', 'armv7l', 'arm64', 'universal'];
/** Electron's platform names to the ones in node-llama-cpp's package names. */
const OS_NAMES = { darwin: 'mac', mas: 'mac', linux: 'linux', win32: 'win' };

/** Files that must never be in the app, with the reason given when one is. */
const FORBIDDEN = [
  [/^node_modules\/node-llama-cpp\/llama\/gitRelease\.bundle$/, 'llama.cpp source bundle (only used to build from source)'],
  [/^node_modules\/node-llama-cpp\/.*\.map$/, "node-llama-cpp's source maps"],
  [/^node_modules\/electron\//, 'the electron package (a devDependency)'],
];

/** Every file path in an asar archive, with whether it lives in app.asar.unpacked. */
export function asarEntries(asarPath) {
  const fd = openSync(asarPath, 'r');
  try {
    // Chromium pickles: [4: payload size][4: header pickle size], then the header pickle
    // [4: payload size][4: JSON length][JSON].
    const sizes = Buffer.alloc(8);
    readSync(fd, sizes, 0, 8, 0);
    const header = Buffer.alloc(sizes.readUInt32LE(4));
    readSync(fd, header, 0, header.length, 8);
    const json = JSON.parse(header.toString('utf8', 8, 8 + header.readUInt32LE(4)));
    const entries = [];
    const walk = (node, prefix) => {
      for (const [name, child] of Object.entries(node.files ?? {})) {
        const path = prefix ? `${prefix}/${name}` : name;
        if (child.files) walk(child, path);
        else entries.push({ path, unpacked: child.unpacked === true });
      }
    };
    walk(json, '');
    return entries;
  } finally {
    closeSync(fd);
  }
}

/** Paths of llama-addon.node files below a folder, relative to it. */
function addons(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...addons(join(dir, entry.name), relative));
    else if (entry.name === 'llama-addon.node') found.push(relative);
  }
  return found;
}

/**
 * What is wrong with a packed app's resources folder for <os>-<arch> (os as in node-llama-cpp's package
 * names: mac, linux, win); an empty list when nothing is.
 */
export function packedAppProblems(resourcesDir, os, arch) {
  const problems = [];
  const asar = join(resourcesDir, 'app.asar');
  if (!existsSync(asar)) return [`${asar} is missing.`];
  const entries = asarEntries(asar);
  for (const required of ['package.json', 'dist/electron/main/index.js', 'dist/electron/preload/index.cjs', 'dist/renderer/index.html', 'node_modules/node-llama-cpp/package.json']) {
    if (!entries.some((entry) => entry.path === required)) problems.push(`app.asar has no ${required}.`);
  }

  const unpacked = join(resourcesDir, 'app.asar.unpacked');
  const scope = join(unpacked, 'node_modules', '@node-llama-cpp');
  const target = `${os}-${arch}`;
  const packages = existsSync(scope) ? readdirSync(scope) : [];
  const ours = packages.filter((name) => name === target || name.startsWith(`${target}-`));
  const binaries = ours.flatMap((name) => addons(join(scope, name)).map((path) => `@node-llama-cpp/${name}/${path}`));
  // Binaries built or downloaded into node-llama-cpp itself count as well.
  for (const folder of ['bins', join('llama', 'localBuilds')]) {
    const base = join(unpacked, 'node_modules', 'node-llama-cpp', folder);
    binaries.push(...addons(base).filter((path) => path.startsWith(target)).map((path) => `node-llama-cpp/${folder}/${path}`));
  }
  if (binaries.length === 0) {
    problems.push(
      `No node-llama-cpp binary for ${target} in ${unpacked}: the app could not run a local model. ` +
        `npm skips @node-llama-cpp packages the machine cannot run (an x64 app built on an arm64 Mac has none), ` +
        `so run npm ci and the build on a ${target} machine, and keep node_modules/@node-llama-cpp/** in asarUnpack.`,
    );
  }
  for (const name of packages.filter((name) => !ours.includes(name))) {
    for (const path of addons(join(scope, name))) problems.push(`A binary for another platform is packed: @node-llama-cpp/${name}/${path}.`);
  }
  const inAsar = entries.filter((entry) => !entry.unpacked && entry.path.endsWith('.node'));
  for (const entry of inAsar) problems.push(`A native module is inside app.asar, where it cannot be loaded: ${entry.path}.`);

  for (const [pattern, what] of FORBIDDEN) {
    const hit = entries.find((entry) => pattern.test(entry.path));
    if (hit) problems.push(`Packed by mistake: ${what} (${hit.path}).`);
  }
  return problems;
}

/** The resources folder electron-builder packs into, per platform. */
function resourcesOf(context) {
  if (context.electronPlatformName === 'darwin' || context.electronPlatformName === 'mas') {
    return join(context.appOutDir, `${context.packager.appInfo.productFilename}.app`, 'Contents', 'Resources');
  }
  return join(context.appOutDir, 'resources');
}

/** The hook itself (electron-builder's afterPack). */
export default async function afterPack(context) {
  const os = OS_NAMES[context.electronPlatformName];
  const arch = ARCH_NAMES[context.arch];
  if (!os || !arch) throw new Error(`after-pack: unknown target ${context.electronPlatformName}/${context.arch}.`);
  // A universal macOS build merges two single-arch builds, each checked on its own.
  if (arch === 'universal') return;
  const problems = packedAppProblems(resourcesOf(context), os, arch);
  if (problems.length > 0) throw new Error(`The packed app for ${os}-${arch} is not fit to ship:\n  - ${problems.join('\n  - ')}`);
  console.log(`  • after-pack check passed  target=${os}-${arch}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [resourcesDir, os, arch] = process.argv.slice(2);
  if (!resourcesDir || !os || !arch) {
    process.stderr.write('usage: node build/after-pack.mjs <resources dir> <mac|linux|win> <x64|arm64>\n');
    process.exit(2);
  }
  const problems = packedAppProblems(resourcesDir, os, arch);
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  if (problems.length === 0) process.stdout.write(`${resourcesDir}: fit to ship for ${os}-${arch}\n`);
  process.exit(problems.length === 0 ? 0 : 1);
}
