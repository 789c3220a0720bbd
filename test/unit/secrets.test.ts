import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SafeStorageSecretStore, type SafeStorageLike } from '../../electron/main/secrets.js';
import { createServices, type Services } from '../../electron/services/app-services.js';
import { ServiceError } from '../../electron/services/errors.js';

const KEY = 'sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0';

/** A stand-in for safeStorage: a real (if toy) cipher, so the plaintext never appears in its output. */
class FakeSafeStorage implements SafeStorageLike {
  available = true;
  backend: ReturnType<NonNullable<SafeStorageLike['getSelectedStorageBackend']>> = 'gnome_libsecret';
  failDecrypt = false;
  encryptError: Error | null = null;
  encrypted = 0;

  isEncryptionAvailable(): boolean {
    return this.available;
  }
  getSelectedStorageBackend(): ReturnType<NonNullable<SafeStorageLike['getSelectedStorageBackend']>> {
    return this.backend;
  }
  encryptString(plainText: string): Buffer {
    if (this.encryptError) throw this.encryptError;
    this.encrypted++;
    const bytes = Buffer.from(plainText, 'utf8').map((byte) => byte ^ 0xa5);
    return Buffer.concat([Buffer.from('v11'), bytes]);
  }
  decryptString(encrypted: Buffer): string {
    if (this.failDecrypt || encrypted.subarray(0, 3).toString() !== 'v11') throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
    return Buffer.from(encrypted.subarray(3).map((byte) => byte ^ 0xa5)).toString('utf8');
  }
}

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spillway-secrets-'));
  file = join(dir, 'secrets.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under the data dir, read as text, must not contain the key in clear or in plain base64. */
async function assertKeyNotOnDisk(root: string): Promise<void> {
  const forms = [KEY, Buffer.from(KEY).toString('base64'), Buffer.from(KEY).toString('hex')];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8');
    for (const form of forms) assert.equal(text.includes(form), false, `${entry.name} holds the key`);
  }
}

async function rejectsWithoutKey(promise: Promise<unknown>, code: string): Promise<ServiceError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => {
      caught = error;
    },
  );
  assert.ok(caught instanceof ServiceError, String(caught));
  assert.equal(caught.code, code);
  assert.equal(caught.message.includes(KEY), false, 'the error message holds the key');
  assert.equal(String(caught.stack).includes(KEY), false, 'the error stack holds the key');
  return caught;
}

describe('SafeStorageSecretStore', () => {
  it('stores the key encrypted and reads it back on the next start', async () => {
    const safe = new FakeSafeStorage();
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    assert.equal(store.get('cloud'), null);
    await store.set('cloud', KEY);
    assert.equal(store.get('cloud'), KEY);
    await assertKeyNotOnDisk(dir);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { version: number; secrets: Record<string, string> };
    assert.equal(saved.version, 2);
    assert.equal(safe.decryptString(Buffer.from(saved.secrets.cloud!, 'base64')), KEY);
    if (process.platform !== 'win32') assert.equal((await stat(file)).mode & 0o777, 0o600);

    const reopened = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    assert.equal(reopened.get('cloud'), KEY);
  });

  it('removes the key when set to null', async () => {
    const safe = new FakeSafeStorage();
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await store.set('cloud', KEY);
    await store.set('cloud', null);
    assert.equal(store.get('cloud'), null);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 2, secrets: {} });
    assert.equal((await SafeStorageSecretStore.open(file, safe)).get('cloud'), null);
  });

  it('refuses to store the key when encryption is unavailable, instead of writing it in clear', async () => {
    const safe = new FakeSafeStorage();
    safe.available = false;
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'darwin' });
    const error = await rejectsWithoutKey(store.set('cloud', KEY), 'UNAVAILABLE');
    assert.match(error.message, /keychain/i);
    assert.equal(store.get('cloud'), null);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(safe.encrypted, 0);
  });

  it('refuses Linux’s basic_text fallback (a hard-coded key) but not other platforms', async () => {
    const safe = new FakeSafeStorage();
    safe.backend = 'basic_text';
    const linux = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await rejectsWithoutKey(linux.set('cloud', KEY), 'UNAVAILABLE');
    assert.deepEqual(await readdir(dir), []);

    const mac = await SafeStorageSecretStore.open(file, safe, { platform: 'darwin' });
    await mac.set('cloud', KEY);
    assert.equal(mac.get('cloud'), KEY);
  });

  it('keeps the key out of the error when encryption itself fails', async () => {
    const safe = new FakeSafeStorage();
    safe.encryptError = new Error(`keyring said no to ${KEY}`);
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await rejectsWithoutKey(store.set('cloud', KEY), 'UNAVAILABLE');
    assert.equal(store.get('cloud'), null);
  });

  it('keeps the key out of the error when the file cannot be written', async () => {
    const store = await SafeStorageSecretStore.open(join(dir, 'missing-dir', 'secrets.json'), new FakeSafeStorage(), { platform: 'linux' });
    await rejectsWithoutKey(store.set('cloud', KEY), 'INTERNAL');
    assert.equal(store.get('cloud'), null);
    // A failed write does not block the next one.
    const ok = await SafeStorageSecretStore.open(file, new FakeSafeStorage(), { platform: 'linux' });
    await ok.set('cloud', KEY);
    assert.equal(ok.get('cloud'), KEY);
  });

  it('starts without a key, and says so once, when the stored one cannot be decrypted', async () => {
    const safe = new FakeSafeStorage();
    await (await SafeStorageSecretStore.open(file, safe)).set('cloud', KEY);
    safe.failDecrypt = true;
    const warnings: string[] = [];
    const store = await SafeStorageSecretStore.open(file, safe, { warn: (message) => warnings.push(message) });
    assert.equal(store.get('cloud'), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Set it again in Settings/);
  });

  it('keeps one key per endpoint, each under its own name', async () => {
    const safe = new FakeSafeStorage();
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await store.set('lan', 'sk-lan-1111');
    await store.set('openai', KEY);
    await store.set('lan', null);
    const reopened = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    assert.deepEqual(reopened.names(), ['openai']);
    assert.equal(reopened.get('openai'), KEY);
    assert.equal(reopened.get('lan'), null);
    await assertKeyNotOnDisk(dir);
  });

  it("reads the first build's single key under the legacy name, and writes today's format from then on", async () => {
    const safe = new FakeSafeStorage();
    const legacy = { version: 1, cloudApiKey: safe.encryptString(KEY).toString('base64') };
    await writeFile(file, JSON.stringify(legacy));
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux', legacyName: 'cloud' });
    assert.deepEqual(store.names(), ['cloud']);
    assert.equal(store.get('cloud'), KEY);
    await store.set('lan', 'sk-lan-2222');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { version: number; secrets: Record<string, string> };
    assert.equal(saved.version, 2);
    assert.deepEqual(Object.keys(saved.secrets).sort(), ['cloud', 'lan'], 'the migrated key is kept');
  });

  it('starts without a key when the file is corrupt', async () => {
    await writeFile(file, '{ not json');
    const warnings: string[] = [];
    const store = await SafeStorageSecretStore.open(file, new FakeSafeStorage(), { warn: (message) => warnings.push(message) });
    assert.equal(store.get('cloud'), null);
    assert.equal(warnings.length, 1);
  });
});

/** An endpoint as the settings form submits it: its id will be `openai`. */
const ENDPOINT = {
  name: 'OpenAI',
  preset: 'openai',
  baseURL: 'https://api.openai.com/v1',
  model: 'gpt-4o-mini',
  contextWindow: 128_000,
  tier: null,
  capabilities: { images: null, tools: null, embeddings: null },
  enabled: true,
};

describe('an endpoint key through the app’s services', () => {
  it('is stored encrypted, reported only as set, and never written anywhere in clear', async () => {
    const safe = new FakeSafeStorage();
    const secrets = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    const services = await createServices({ dataDir: dir, mode: 'desktop', version: 'test', secrets });
    try {
      assert.ok((await services.call('endpoints:save', { endpoint: ENDPOINT })).ok);
      const result = await services.call('endpoints:setKey', { id: 'openai', apiKey: KEY });
      assert.equal(result.ok, true);
      assert.deepEqual(result.ok && result.value.endpointKeys, ['openai']);
      assert.equal(JSON.stringify(result).includes(KEY), false);
      const settings = await services.call('settings:get', {});
      assert.equal(JSON.stringify(settings).includes(KEY), false);
    } finally {
      await services.shutdown();
    }
    await assertKeyNotOnDisk(dir);
  });

  it('comes back as UNAVAILABLE data without the key when no keychain is available', async () => {
    const safe = new FakeSafeStorage();
    safe.available = false;
    const secrets = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    const services = await createServices({ dataDir: dir, mode: 'desktop', version: 'test', secrets });
    try {
      assert.ok((await services.call('endpoints:save', { endpoint: ENDPOINT })).ok);
      const result = await services.call('endpoints:setKey', { id: 'openai', apiKey: KEY });
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.error.code, 'UNAVAILABLE');
      assert.equal(JSON.stringify(result).includes(KEY), false);
      const settings = await services.call('settings:get', {});
      assert.deepEqual(settings.ok && settings.value.endpointKeys, []);
    } finally {
      await services.shutdown();
    }
    await assertKeyNotOnDisk(dir);
  });
});
