import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SafeStorageSecretStore, type SafeStorageLike } from '../../electron/main/secrets.js';
import { AppServices } from '../../electron/services/app-services.js';
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
    assert.equal(store.get(), null);
    await store.set(KEY);
    assert.equal(store.get(), KEY);
    await assertKeyNotOnDisk(dir);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { version: number; cloudApiKey: string };
    assert.equal(saved.version, 1);
    assert.equal(safe.decryptString(Buffer.from(saved.cloudApiKey, 'base64')), KEY);
    if (process.platform !== 'win32') assert.equal((await stat(file)).mode & 0o777, 0o600);

    const reopened = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    assert.equal(reopened.get(), KEY);
  });

  it('removes the key when set to null', async () => {
    const safe = new FakeSafeStorage();
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await store.set(KEY);
    await store.set(null);
    assert.equal(store.get(), null);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 1 });
    assert.equal((await SafeStorageSecretStore.open(file, safe)).get(), null);
  });

  it('refuses to store the key when encryption is unavailable, instead of writing it in clear', async () => {
    const safe = new FakeSafeStorage();
    safe.available = false;
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'darwin' });
    const error = await rejectsWithoutKey(store.set(KEY), 'UNAVAILABLE');
    assert.match(error.message, /keychain/i);
    assert.equal(store.get(), null);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(safe.encrypted, 0);
  });

  it('refuses Linux’s basic_text fallback (a hard-coded key) but not other platforms', async () => {
    const safe = new FakeSafeStorage();
    safe.backend = 'basic_text';
    const linux = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await rejectsWithoutKey(linux.set(KEY), 'UNAVAILABLE');
    assert.deepEqual(await readdir(dir), []);

    const mac = await SafeStorageSecretStore.open(file, safe, { platform: 'darwin' });
    await mac.set(KEY);
    assert.equal(mac.get(), KEY);
  });

  it('keeps the key out of the error when encryption itself fails', async () => {
    const safe = new FakeSafeStorage();
    safe.encryptError = new Error(`keyring said no to ${KEY}`);
    const store = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    await rejectsWithoutKey(store.set(KEY), 'UNAVAILABLE');
    assert.equal(store.get(), null);
  });

  it('keeps the key out of the error when the file cannot be written', async () => {
    const store = await SafeStorageSecretStore.open(join(dir, 'missing-dir', 'secrets.json'), new FakeSafeStorage(), { platform: 'linux' });
    await rejectsWithoutKey(store.set(KEY), 'INTERNAL');
    assert.equal(store.get(), null);
    // A failed write does not block the next one.
    const ok = await SafeStorageSecretStore.open(file, new FakeSafeStorage(), { platform: 'linux' });
    await ok.set(KEY);
    assert.equal(ok.get(), KEY);
  });

  it('starts without a key, and says so once, when the stored one cannot be decrypted', async () => {
    const safe = new FakeSafeStorage();
    await (await SafeStorageSecretStore.open(file, safe)).set(KEY);
    safe.failDecrypt = true;
    const warnings: string[] = [];
    const store = await SafeStorageSecretStore.open(file, safe, { warn: (message) => warnings.push(message) });
    assert.equal(store.get(), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Set the key again/);
  });

  it('starts without a key when the file is corrupt', async () => {
    await writeFile(file, '{ not json');
    const warnings: string[] = [];
    const store = await SafeStorageSecretStore.open(file, new FakeSafeStorage(), { warn: (message) => warnings.push(message) });
    assert.equal(store.get(), null);
    assert.equal(warnings.length, 1);
  });
});

describe('the API key through the app’s services', () => {
  it('is stored encrypted, reported only as set, and never written anywhere in clear', async () => {
    const safe = new FakeSafeStorage();
    const secrets = await SafeStorageSecretStore.open(file, safe, { platform: 'linux' });
    const services = await AppServices.create({ dataDir: dir, mode: 'desktop', version: 'test', secrets });
    try {
      const result = await services.call('settings:setApiKey', { apiKey: KEY });
      assert.equal(result.ok, true);
      assert.equal(result.ok && result.value.cloudApiKeySet, true);
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
    const services = await AppServices.create({ dataDir: dir, mode: 'desktop', version: 'test', secrets });
    try {
      const result = await services.call('settings:setApiKey', { apiKey: KEY });
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.error.code, 'UNAVAILABLE');
      assert.equal(JSON.stringify(result).includes(KEY), false);
      const settings = await services.call('settings:get', {});
      assert.equal(settings.ok && settings.value.cloudApiKeySet, false);
    } finally {
      await services.shutdown();
    }
    await assertKeyNotOnDisk(dir);
  });
});
