#!/usr/bin/env node
/**
 * `npm start` runs this first: it makes sure Electron's binary is on disk, fetching it the first time.
 *
 * Electron (since 42) no longer downloads its binary when `npm install` runs; the package fetches it on
 * first use. This script does that fetch up front with Electron's own installer
 * (node_modules/electron/install.js, the code behind `npx install-electron`), so every variable Electron
 * documents applies (ELECTRON_MIRROR, electron_config_cache, ELECTRON_GET_USE_PROXY, ...). When the fetch
 * fails it says what failed and how to get past it, and exits 1 without a stack trace.
 *
 * It works on the project in the current directory (npm runs scripts from the package root).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, posix } from 'node:path';

const GITHUB_RELEASES = 'https://github.com/electron/electron/releases/download/';
const PROBE_TIMEOUT_MS = 10_000;

/** Where the electron package is, or null when it is not installed. */
function electronPackageDir(projectDir) {
  try {
    return dirname(createRequire(join(projectDir, 'package.json')).resolve('electron/package.json'));
  } catch {
    return null;
  }
}

/** The platform and architecture Electron's installer fetches for (same variables, same order). */
function target(env) {
  return {
    platform: env.ELECTRON_INSTALL_PLATFORM || env.npm_config_platform || process.platform,
    arch: env.ELECTRON_INSTALL_ARCH || env.npm_config_arch || process.arch,
  };
}

/** The executable's path inside the package's dist folder, as install.js writes it to path.txt. */
function platformPath(platform) {
  if (platform === 'darwin' || platform === 'mas') return 'Electron.app/Contents/MacOS/Electron';
  if (platform === 'win32') return 'electron.exe';
  return 'electron';
}

/** Whether the binary is in place: the same test Electron's installer makes before it downloads. */
function isInstalled(electronDir, version, platform, env) {
  if (env.ELECTRON_OVERRIDE_DIST_PATH) return existsSync(env.ELECTRON_OVERRIDE_DIST_PATH);
  try {
    if (readFileSync(join(electronDir, 'dist', 'version'), 'utf8').replace(/^v/, '') !== version) return false;
    if (readFileSync(join(electronDir, 'path.txt'), 'utf8') !== platformPath(platform)) return false;
  } catch {
    return false;
  }
  return existsSync(join(electronDir, 'dist', platformPath(platform)));
}

/** The URL @electron/get downloads from, for the settings people use (mirror, custom directory). */
function downloadUrl(version, file, env) {
  const mirror = env.ELECTRON_MIRROR || env.npm_config_electron_mirror || env.NPM_CONFIG_ELECTRON_MIRROR || GITHUB_RELEASES;
  const dir = (env.ELECTRON_CUSTOM_DIR || env.npm_config_electron_custom_dir || `v${version}`).replace('{{ version }}', version);
  return `${mirror}${dir}/${file}`;
}

/** @electron/get's cache: <root>/<sha256 of the URL's folder>/<file>; electron_config_cache moves the root. */
function cachePath(url, file, env) {
  const parsed = new URL(url);
  parsed.hash = '';
  parsed.search = '';
  parsed.pathname = posix.dirname(parsed.pathname);
  const folder = createHash('sha256').update(parsed.toString()).digest('hex');
  return join(env.electron_config_cache || defaultCacheRoot(env), folder, file);
}

function defaultCacheRoot(env) {
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'electron');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), 'electron', 'Cache');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'electron');
}

/** The installer's own one-line reason (its last error line, without the stack under it). */
function installerReason(output) {
  const lines = output.split(/\r?\n/).map((line) => line.trim());
  const errors = lines.filter((line) => /^([A-Z]\w*)?Error\b|^Error:/.test(line));
  return errors.find((line) => !line.startsWith('Error: Electron failed to install')) ?? errors[0] ?? lines.filter(Boolean).at(-1) ?? 'no output';
}

/** Why the download host cannot be reached (DNS, refused, proxy, TLS), or null when it answers. */
async function probe(url, env) {
  const options = { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) };
  if (env.ELECTRON_GET_USE_PROXY) {
    try {
      const { EnvHttpProxyAgent } = await import('undici');
      options.dispatcher = new EnvHttpProxyAgent();
    } catch {
      // Without undici the probe goes direct, like the installer itself would.
    }
  }
  try {
    const response = await fetch(url, options);
    await response.body?.cancel();
    return null;
  } catch (error) {
    const cause = error?.cause;
    if (cause?.message) return cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message;
    return error instanceof Error ? error.message : String(error);
  }
}

/** The message printed when the binary cannot be fetched. */
function explanation({ version, file, url, reason, cacheFile, nodeNote }) {
  const lines = [
    `Spillway cannot open the desktop app: Electron ${version} is not installed yet and could not be downloaded.`,
    '',
    'What failed:',
    `  downloading ${url}`,
    `  ${reason}`,
    ...(nodeNote ? [`  ${nodeNote}`] : []),
    '',
    'How to fix it, then run `npm start` again:',
    '  - Behind a proxy: set HTTPS_PROXY (and NO_PROXY) and ELECTRON_GET_USE_PROXY=1, for example',
    '      ELECTRON_GET_USE_PROXY=1 HTTPS_PROXY=http://proxy.example:3128 npm start',
    '  - From a mirror of Electron\'s releases: set ELECTRON_MIRROR, for example',
    '      ELECTRON_MIRROR=https://npmmirror.com/mirrors/electron/ npm start',
    `  - From a copy of ${file} you already have (it is checked against Electron's published checksum):`,
    '      put it at',
    `      ${cacheFile}`,
    '      (electron_config_cache=<folder> moves this cache; the zip then goes in <folder>/<same subfolder>/)',
    '',
    'Meanwhile, `npm run serve` runs the same app in your browser, with no Electron needed:',
    '  npm run serve, then open http://127.0.0.1:8765/',
  ];
  return `${lines.join('\n')}\n`;
}

function nodeRequirement(electronPackage) {
  const wanted = electronPackage.engines?.node;
  const minimum = wanted?.match(/>=?\s*(\d+)\.(\d+)\.(\d+)/);
  if (!minimum) return null;
  const [major, minor] = process.versions.node.split('.').map(Number);
  const [, wantMajor, wantMinor] = minimum.map(Number);
  if (major > wantMajor || (major === wantMajor && minor >= wantMinor)) return null;
  return `Electron's installer needs Node ${wanted}; this is Node ${process.versions.node}.`;
}

async function main() {
  const env = process.env;
  const electronDir = electronPackageDir(process.cwd());
  if (!electronDir) {
    process.stderr.write('Spillway cannot open the desktop app: the electron package is not installed. Run `npm install` first.\n');
    return 1;
  }
  const electronPackage = JSON.parse(readFileSync(join(electronDir, 'package.json'), 'utf8'));
  const { version } = electronPackage;
  const { platform, arch } = target(env);
  if (isInstalled(electronDir, version, platform, env)) return 0;

  const file = `electron-v${version}-${platform}-${arch}.zip`;
  const url = downloadUrl(version, file, env);
  process.stdout.write(`Fetching Electron ${version} for ${platform}-${arch} from ${new URL(url).host} (once; about 100 MB)...\n`);
  const installer = spawnSync(process.execPath, [join(electronDir, 'install.js')], {
    cwd: electronDir,
    env: { ...env, ELECTRON_GET_NO_PROGRESS: env.ELECTRON_GET_NO_PROGRESS ?? '1' },
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (installer.status === 0 && isInstalled(electronDir, version, platform, env)) {
    process.stdout.write(`Electron ${version} is ready.\n`);
    return 0;
  }
  const output = `${installer.stderr ?? ''}${installer.error ? `\n${installer.error.message}` : ''}`;
  const unreachable = await probe(url, env);
  process.stderr.write(
    explanation({
      version,
      file,
      url,
      reason: unreachable ?? installerReason(output),
      cacheFile: cachePath(url, file, env),
      // Only worth saying when the network was not the problem.
      nodeNote: unreachable ? null : nodeRequirement(electronPackage),
    }),
  );
  return 1;
}

process.exitCode = await main();
