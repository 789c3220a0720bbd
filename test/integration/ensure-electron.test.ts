/**
 * `npm start`'s first step, scripts/ensure-electron.mjs, against Electron's real installer
 * (node_modules/electron/install.js and @electron/get) in a throwaway copy of the electron package: the
 * binary is fetched on first start from a mirror, reused after that, taken from a cached zip where the
 * failure message says to put it, and a download that cannot happen ends in an explanation, exit 1 and
 * no stack trace. A local HTTP server stands in for Electron's download host; the "binary" is a script.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = join(root, 'scripts', 'ensure-electron.mjs');
const realElectron = dirname(createRequire(join(root, 'package.json')).resolve('electron/package.json'));
const version = (JSON.parse(readFileSync(join(realElectron, 'package.json'), 'utf8')) as { version: string }).version;
const zipName = `electron-v${version}-${process.platform}-${process.arch}.zip`;
const executable = process.platform === 'darwin' ? 'Electron.app/Contents/MacOS/Electron' : process.platform === 'win32' ? 'electron.exe' : 'electron';
const slow = { timeout: 60_000 };

/** A zip with stored (uncompressed) entries and Unix modes, enough for Electron's extractor. */
function storedZip(entries: Array<{ name: string; data: Buffer; mode: number }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data, mode } of entries) {
    const fileName = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by Unix, so the external attributes carry the file mode
    central.writeUInt16LE(10, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const standInZip = storedZip([
  { name: executable, data: Buffer.from('#!/bin/sh\necho "stand-in electron $*"\n'), mode: 0o755 },
  { name: 'version', data: Buffer.from(version), mode: 0o644 },
]);

let tmp: string;
let projects = 0;

/** A project folder with its own copy of the electron package (the installer writes into it). */
function freshProject(): { dir: string; electronDir: string } {
  const dir = join(tmp, `project-${++projects}`);
  const electronDir = join(dir, 'node_modules', 'electron');
  mkdirSync(electronDir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ensure-electron-fixture', private: true }));
  for (const file of ['package.json', 'install.js', 'index.js', 'cli.js']) copyFileSync(join(realElectron, file), join(electronDir, file));
  // The stand-in zip's checksum, where install.js looks for the published ones.
  writeFileSync(join(electronDir, 'checksums.json'), JSON.stringify({ [zipName]: createHash('sha256').update(standInZip).digest('hex') }));
  // The installer's own dependencies, from this project's node_modules.
  for (const scope of ['@electron', '@electron-internal']) {
    symlinkSync(join(root, 'node_modules', scope), join(dir, 'node_modules', scope), process.platform === 'win32' ? 'junction' : 'dir');
  }
  return { dir, electronDir };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ensure(cwd: string, env: Record<string, string>): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(electron_|ELECTRON_|npm_config_electron)/i.test(key)));
  const child = spawn(process.execPath, [script], { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A wedged download must fail the test, not hang the suite.
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** A download host that serves the stand-in zip for this version, and counts what it was asked for. */
let mirror: Server;
let mirrorUrl: string;
const requested: string[] = [];
/** An address where nothing listens. */
let closedUrl: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'spillway-ensure-electron-'));
  mirror = createServer((request, response) => {
    requested.push(`${request.method} ${request.url}`);
    if (request.url === `/v${version}/${zipName}`) {
      response.writeHead(200, { 'content-type': 'application/zip', 'content-length': standInZip.length });
      response.end(request.method === 'HEAD' ? undefined : standInZip);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
  mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}/`;
  await new Promise((resolve) => closed.close(resolve));
});

after(async () => {
  await new Promise((resolve) => mirror.close(resolve));
  rmSync(tmp, { recursive: true, force: true });
});

describe('npm start fetches Electron on first use', () => {
  test('a download host that cannot be reached: what failed, how to fix it, npm run serve; exit 1, no stack', slow, async () => {
    const { dir, electronDir } = freshProject();
    const run = await ensure(dir, { ELECTRON_MIRROR: closedUrl, electron_config_cache: join(tmp, 'cache-unreachable') });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`Electron ${version.replaceAll('.', '\\.')} is not installed yet and could not be downloaded`));
    assert.ok(run.stderr.includes(`downloading ${closedUrl}v${version}/${zipName}`), run.stderr);
    assert.match(run.stderr, /ECONNREFUSED/, 'the network reason, not just "fetch failed"');
    for (const remedy of ['HTTPS_PROXY', 'ELECTRON_GET_USE_PROXY=1', 'ELECTRON_MIRROR=', 'electron_config_cache', 'npm run serve']) {
      assert.ok(run.stderr.includes(remedy), `the message names ${remedy}:\n${run.stderr}`);
    }
    assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace');
    assert.equal(existsSync(join(electronDir, 'path.txt')), false, 'nothing half-installed is left behind');
  });

  test('the first start downloads the binary from ELECTRON_MIRROR; later starts reuse it', slow, async () => {
    const { dir, electronDir } = freshProject();
    const env = { ELECTRON_MIRROR: mirrorUrl, electron_config_cache: join(tmp, 'cache-mirror') };
    requested.length = 0;
    const first = await ensure(dir, env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /is ready/);
    assert.deepEqual(requested, [`GET /v${version}/${zipName}`]);
    assert.equal(readFileSync(join(electronDir, 'path.txt'), 'utf8'), executable);
    const binary = join(electronDir, 'dist', executable);
    assert.ok(existsSync(binary), 'the binary is unpacked where the electron package looks for it');
    if (process.platform !== 'win32') {
      assert.equal(execFileSync(binary, ['--version'], { encoding: 'utf8' }), 'stand-in electron --version\n', 'unpacked executable');
    }

    const second = await ensure(dir, env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, '', 'nothing to do, nothing said');
    assert.equal(requested.length, 1, 'no second download');
  });

  test('behind a proxy: ELECTRON_GET_USE_PROXY=1 sends the download through HTTP(S)_PROXY', slow, async () => {
    const proxied: string[] = [];
    // A forward proxy: CONNECT tunnels (what undici's proxy agent opens) and absolute-URL requests.
    const proxy = createServer((request, response) => {
      proxied.push(`${request.method} ${request.url}`);
      const upstream = httpRequest(request.url ?? '', { method: request.method, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      upstream.on('error', () => response.writeHead(502).end());
      request.pipe(upstream);
    });
    proxy.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
      proxied.push(`CONNECT ${request.url}`);
      const [host, port] = (request.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const { dir } = freshProject();
      requested.length = 0;
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const run = await ensure(dir, { ELECTRON_MIRROR: mirrorUrl, electron_config_cache: join(tmp, 'cache-proxy'), ELECTRON_GET_USE_PROXY: '1', HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl });
      assert.equal(run.code, 0, run.stderr);
      const mirrorHost = new URL(mirrorUrl).host;
      assert.ok(proxied.length > 0 && proxied.every((line) => line === `CONNECT ${mirrorHost}` || line === `GET ${mirrorUrl}v${version}/${zipName}`), proxied.join('\n'));
      assert.ok(requested.includes(`GET /v${version}/${zipName}`), 'the mirror was reached through the proxy');
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  test('a zip put where the message says is used without any network', slow, async () => {
    const { dir, electronDir } = freshProject();
    const env = { ELECTRON_MIRROR: closedUrl, electron_config_cache: join(tmp, 'cache-offline') };
    const failed = await ensure(dir, env);
    const advised = failed.stderr.match(/put it at\n\s*(\S+)/)?.[1];
    assert.ok(advised, failed.stderr);
    mkdirSync(dirname(advised), { recursive: true });
    writeFileSync(advised, standInZip);

    const offline = await ensure(dir, env);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(readFileSync(join(electronDir, 'path.txt'), 'utf8'), executable);
  });
});
