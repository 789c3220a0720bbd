/**
 * Who may reach the headless server and what it will hand out: Host and Origin checks, API keys and
 * non-loopback binds, body limits, the static UI (path traversal included), and the `serve` CLI as a
 * child process. Everything over real HTTP on 127.0.0.1; no local model is loaded here.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as connectSocket, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenAI from 'openai';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../electron/server/http-server.js';
import type { Services } from '../../electron/services/app-services.js';
import { rawRequest, runCli, startCli } from '../fixtures/http-client.js';
import { CLOUD_REPLY, hello, sdk, startHarness, type Harness } from '../fixtures/server-harness.js';

const slow = { timeout: 60_000 };
let h: Harness;

before(async () => {
  h = await startHarness();
});
beforeEach(() => h.cloud.reset());
after(() => h.close());

describe('requests from elsewhere', () => {
  let server: RunningServer;
  before(async () => {
    server = await h.serve(await h.makeServices({ routing: { strategy: 'cloud-only' } }));
  });

  test('a foreign Host header is refused (DNS rebinding), the loopback names are not', async () => {
    for (const path of ['/v1/models', '/api/app:info', '/']) {
      const refused = await rawRequest({ port: server.port, path, method: path.startsWith('/api') ? 'POST' : 'GET', headers: { host: `evil.example:${server.port}` } });
      assert.equal(refused.status, 403, path);
    }
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`]) {
      assert.equal((await rawRequest({ port: server.port, path: '/v1/models', headers: { host } })).status, 200, host);
    }
  });

  test('cross-origin browser requests are refused, same-origin ones served', async () => {
    const post = (origin: string) =>
      rawRequest({ port: server.port, path: '/api/app:info', method: 'POST', headers: { host: `127.0.0.1:${server.port}`, origin }, body: '{}' });
    const evil = await post('http://evil.example');
    assert.equal(evil.status, 403);
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    assert.equal((await post('null')).status, 403);
    assert.equal((await post(`http://127.0.0.1:${server.port}`)).status, 200);
  });

  test('a body over 10 MB is refused with 413', async () => {
    const response = await rawRequest({
      port: server.port,
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { host: `127.0.0.1:${server.port}`, 'content-length': String(11 * 1024 * 1024) },
      body: '{}',
    }).catch((error: Error) => ({ status: 0, body: error.message }));
    assert.equal(response.status, 413, response.body);
  });

  test('the 413 reaches a client that sends its whole oversized body before reading the answer', async () => {
    // A message's files may make chat:send larger: 10 MB plus 20 MB of files in base64.
    for (const [path, size, limit] of [['/v1/chat/completions', 24, 10], ['/api/chat:cancel', 24, 10], ['/api/chat:send', 40, 37]] as const) {
      const answer = await uploadThenRead(server.port, path, size * 1024 * 1024);
      assert.match(answer, /^HTTP\/1\.1 413 /, `${path}: ${answer.slice(0, 80)}`);
      assert.match(answer, new RegExp(`larger than ${limit} MB`));
    }
  });

  test('GET / returns an HTML page from the default UI folder, built or not', async () => {
    const response = await fetch(`${server.url}/`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  });
});

describe('binding and API keys', () => {
  let services: Services;
  before(async () => {
    services = await h.makeServices({ routing: { strategy: 'cloud-only' } });
  });

  test('startServer refuses a non-loopback bind without an API key', async () => {
    await assert.rejects(startServer({ services, host: '0.0.0.0', port: 0 }), /without an API key/);
  });

  test('with an API key, /api and /v1 need the Bearer token and the page does not', async () => {
    const server = await h.serve(services, { host: '0.0.0.0', apiKey: 'sekret' });
    const get = (path: string, authorization?: string) =>
      rawRequest({ port: server.port, path, headers: { host: `127.0.0.1:${server.port}`, ...(authorization ? { authorization } : {}) } });
    const missing = await get('/v1/models');
    assert.equal(missing.status, 401);
    assert.equal(JSON.parse(missing.body).error.type, 'authentication_error');
    assert.equal((await get('/v1/models', 'Bearer wrong')).status, 401);
    assert.equal((await get('/v1/models', 'Bearer sekret')).status, 200);
    const api = await rawRequest({ port: server.port, path: '/api/app:info', method: 'POST', headers: { host: `127.0.0.1:${server.port}` }, body: '{}' });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error.code, 'AUTH');
    assert.notEqual((await get('/')).status, 401);
    const answer = await sdk(`http://127.0.0.1:${server.port}`, 'sekret').chat.completions.create({ model: 'auto', messages: hello });
    assert.equal(answer.choices[0]?.message.content, CLOUD_REPLY);
  });
});

describe('static UI', () => {
  let server: RunningServer;
  let services: Services;
  before(async () => {
    const site = join(h.tmp, 'site');
    mkdirSync(join(site, 'assets'), { recursive: true });
    writeFileSync(join(site, 'index.html'), '<!doctype html><title>Spillway UI</title>');
    writeFileSync(join(site, 'assets', 'app.js'), 'console.log(1);');
    writeFileSync(join(h.tmp, 'package.json'), '{"secret": "TOP SECRET"}');
    symlinkSync(join(h.tmp, 'package.json'), join(site, 'link.json'));
    services = await h.makeServices({ routing: { strategy: 'cloud-only' } });
    server = await h.serve(services, { staticDir: site });
  });

  test('serves index.html for / and assets with their content types', async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /Spillway UI/);
    const script = await fetch(`${server.url}/assets/app.js`);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${server.url}/assets/missing.js`)).status, 404);
  });

  test('path traversal never reads a file outside the UI folder', async () => {
    const paths = ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/%2e%2e%2fpackage.json', '/assets/..%2f..%2fpackage.json', '/link.json', '/..%5cpackage.json'];
    for (const path of paths) {
      const response = await rawRequest({ port: server.port, path, headers: { host: `127.0.0.1:${server.port}` } });
      assert.ok([400, 403, 404].includes(response.status), `${path} → ${response.status}`);
      assert.doesNotMatch(response.body, /TOP SECRET/, path);
    }
  });

  test('without a built UI, / explains how to build it', async () => {
    const bare = await h.serve(services, { staticDir: join(h.tmp, 'no-such-ui') });
    const page = await fetch(`${bare.url}/`);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /not built yet.*npm run build/s);
  });
});

/**
 * Sends a whole request with a body of `bytes` before reading anything back, as simple clients do; resolves
 * with the raw answer, or the socket error when the server cut the connection mid-upload.
 */
function uploadThenRead(port: number, path: string, bytes: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectSocket(port, '127.0.0.1');
    let received = '';
    let done = false;
    socket.pause();
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      done = true;
      resolve(`error ${error.code}`);
    });
    socket.on('close', () => !done && resolve(received));
    socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${bytes}\r\nconnection: close\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    const write = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', write);
      }
      socket.resume();
    };
    write();
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('serve CLI', () => {
  test('--help documents every flag and the remote key variable', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    for (const flag of ['--port', '--host', '--model', '--remote-url', '--remote-model', '--strategy', '--data-dir', '--api-key', '--help', 'SPILLWAY_REMOTE_API_KEY']) {
      assert.ok(stdout.includes(flag), flag);
    }
  });

  test('bad flags exit non-zero with one clear message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port', 'abc'], /--port must be a whole number.*"abc"/],
      [['--strategy', 'sideways'], /--strategy must be one of local-first, local-only, cloud-first, cloud-only, not "sideways"/],
      [['--max-tier', 'galactic'], /--max-tier must be one of sovereign, private, standard, not "galactic"/],
      [['--first-token-timeout', 'soon'], /--first-token-timeout must be a whole number of milliseconds/],
      [['--cloud-timeout', '10'], /--cloud-timeout must be a whole number of milliseconds from 1000/],
      [['--remote-url', 'https://a.example/v1', '--remote-url', 'https://b.example/v1', '--remote-model', 'm'], /each --remote-url needs its --remote-model.*2 URLs and 1 model/],
      [['--remote-url', 'https://a.example/v1', '--remote-model', 'm', '--remote-tier', 'sovereign'], /--remote-tier sovereign: a\.example is on the internet \(standard\), so it cannot be declared sovereign/],
      [['--remote-url', 'not a url'], /--remote-url must be an http/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['--host', '0.0.0.0'], /--host 0\.0\.0\.0 .*--api-key/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      assert.notEqual(run.code, 0, args.join(' '));
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 2, `one message and the --help hint: ${run.stderr}`);
    });
  });

  test('cloud only with a missing model starts, warns about the model and answers from the remote', slow, async () => {
    const cli = startCli(
      ['--model', '/nonexistent.gguf', '--strategy', 'cloud-only', '--remote-url', h.cloud.baseURL, '--remote-model', 'm', '--port', '0', '--data-dir', mkdtempSync(join(h.tmp, 'cli-'))],
      { SPILLWAY_REMOTE_API_KEY: 'sk-from-env' },
    );
    const [, url] = await cli.waitFor(/listening on (http:\/\/\S+)/);
    await cli.waitFor(/warning: local model \/nonexistent\.gguf cannot be used: .*does not exist/);
    const { data, response } = await sdk(url!).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(data.model, 'm');
    assert.equal(response.headers.get('x-spillway-driver'), 'remote');
    assert.equal(h.cloud.chatRequests()[0]?.headers.authorization, 'Bearer sk-from-env');
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
  });

  test('repeated --remote-url/--remote-model make a route: each endpoint its own key, the headers and ledger say who answered', slow, async () => {
    const dead = await closedPort();
    const dataDir = mkdtempSync(join(h.tmp, 'cli-'));
    const cli = startCli(
      [
        '--strategy', 'cloud-first', '--port', '0', '--data-dir', dataDir, '--cloud-timeout', '5000',
        '--remote-url', `http://127.0.0.1:${dead}/v1`, '--remote-model', 'lan-model', '--remote-tier', 'private',
        '--remote-url', h.cloud.baseURL, '--remote-model', 'proxied-model', '--remote-tier', 'standard',
      ],
      { SPILLWAY_REMOTE_API_KEY: 'sk-first', SPILLWAY_REMOTE_API_KEY_2: 'sk-second' },
    );
    const [, url] = await cli.waitFor(/listening on (http:\/\/\S+)/);
    await cli.waitFor(/Endpoint remote-2: 127\.0\.0\.1:\d+ \(proxied-model, standard\)/);
    const { data, response } = await sdk(url!).chat.completions.create({ model: 'auto', messages: hello }).withResponse();
    assert.equal(data.choices[0]?.message.content, CLOUD_REPLY);
    assert.equal(response.headers.get('x-spillway-driver'), 'remote');
    assert.equal(response.headers.get('x-spillway-endpoint'), 'remote-2');
    assert.equal(response.headers.get('x-spillway-tier'), 'standard');
    assert.equal(h.cloud.chatRequests().length, 1);
    assert.equal(h.cloud.chatRequests()[0]?.headers.authorization, 'Bearer sk-second', "the second endpoint gets its own key, never the first's");
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    // Both endpoints are off this computer (declared private and standard), so both were recorded before sending.
    const lines = readFileSync(join(dataDir, 'egress.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const begins = lines.filter((line) => line.t === 'begin');
    assert.deepEqual(begins.map((b) => [b.endpointId, b.why, b.after ?? null, b.conversationId]), [
      ['remote-1', 'cloud-first', null, 'api'],
      ['remote-2', 'spillover', 'network', 'api'],
    ]);
    const ends = new Map(lines.filter((line) => line.t === 'end').map((line) => [line.id, line.outcome]));
    assert.deepEqual(begins.map((b) => ends.get(b.id)), ['failure', 'success']);
    assert.ok(!readFileSync(join(dataDir, 'egress.jsonl'), 'utf8').includes('Hello there'), 'no message text is recorded');
  });

  test('--max-tier keeps every request under it: an endpoint beyond it is never asked', slow, async () => {
    const cli = startCli([
      '--strategy', 'cloud-only', '--max-tier', 'private', '--port', '0', '--data-dir', mkdtempSync(join(h.tmp, 'cli-')),
      '--remote-url', h.cloud.baseURL, '--remote-model', 'proxied-model', '--remote-tier', 'standard',
    ]);
    const [, url] = await cli.waitFor(/listening on (http:\/\/\S+)/);
    await cli.waitFor(/--max-tier private rules out every endpoint/);
    await assert.rejects(sdk(url!).chat.completions.create({ model: 'auto', messages: hello }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.PermissionDeniedError, String(error));
      assert.match(error.message, /privacy ceiling allows up to the local network.*standard: nothing was sent/);
      return true;
    });
    assert.equal(h.cloud.requests.length, 0);
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
  });
});
