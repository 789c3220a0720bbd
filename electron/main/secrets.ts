/**
 * The cloud API key, encrypted with Electron's safeStorage (Keychain on macOS, DPAPI on Windows, the Secret
 * Service or KWallet on Linux) and kept as base64 ciphertext in `<userData>/secrets.json`. The key itself
 * never reaches a log, an error message or the file in clear.
 */
import { readFile } from 'node:fs/promises';
import type { SafeStorage } from 'electron';
import writeFileAtomic from 'write-file-atomic';
import type { SecretStore } from '../services/secret-store.js';
import { ServiceError } from '../services/errors.js';

/** The safeStorage calls this store makes; tests pass a fake. */
export type SafeStorageLike = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> &
  Partial<Pick<SafeStorage, 'getSelectedStorageBackend'>>;

interface SecretsFile {
  version: 1;
  /** base64 of safeStorage.encryptString(key). */
  cloudApiKey?: string;
}

export interface SafeStorageSecretStoreOptions {
  /** process.platform; the Linux fallback backend check only applies there. */
  platform?: NodeJS.Platform;
  /** Told once when a stored key cannot be read back (e.g. the keyring was reset). */
  warn?: (message: string) => void;
}

export class SafeStorageSecretStore implements SecretStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly safeStorage: SafeStorageLike,
    private readonly platform: NodeJS.Platform,
    private secret: string | null,
  ) {}

  /** Reads and decrypts the stored key; call after app `ready` (safeStorage needs it on Linux). */
  static async open(file: string, safeStorage: SafeStorageLike, options: SafeStorageSecretStoreOptions = {}): Promise<SafeStorageSecretStore> {
    const platform = options.platform ?? process.platform;
    const warn = options.warn ?? (() => {});
    let secret: string | null = null;
    let raw: string | null = null;
    try {
      raw = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warn('Spillway could not read its stored API key file; set the key again in Settings.');
    }
    if (raw !== null) {
      try {
        const parsed = JSON.parse(raw) as Partial<SecretsFile>;
        if (typeof parsed.cloudApiKey === 'string' && parsed.cloudApiKey.length > 0) {
          secret = safeStorage.decryptString(Buffer.from(parsed.cloudApiKey, 'base64'));
        }
      } catch {
        // Deliberately not the caught error: decrypt failures are opaque and nothing here may echo the file.
        warn('The stored cloud API key could not be read or decrypted (the system keychain may have changed). Set the key again in Settings.');
        secret = null;
      }
    }
    return new SafeStorageSecretStore(file, safeStorage, platform, secret);
  }

  get(): string | null {
    return this.secret;
  }

  /** Encrypts and saves the key (null removes it); refuses rather than ever writing it in clear. */
  async set(secret: string | null): Promise<void> {
    const next = this.writing.then(() => this.write(secret));
    // A failed write must not wedge later ones.
    this.writing = next.catch(() => {});
    return next;
  }

  private async write(secret: string | null): Promise<void> {
    const contents: SecretsFile = { version: 1 };
    if (secret !== null) {
      this.assertSecureStorage();
      let encrypted: Buffer;
      try {
        encrypted = this.safeStorage.encryptString(secret);
      } catch {
        throw new ServiceError('UNAVAILABLE', 'The system keychain refused to encrypt the API key, so it was not saved.');
      }
      contents.cloudApiKey = encrypted.toString('base64');
    }
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new ServiceError('INTERNAL', `The API key could not be saved (${code}).`);
    }
    this.secret = secret;
  }

  private assertSecureStorage(): void {
    if (!this.safeStorage.isEncryptionAvailable()) {
      throw new ServiceError(
        'UNAVAILABLE',
        'No system keychain is available to encrypt the API key, so Spillway will not store it. Unlock or install a keychain (e.g. GNOME Keyring or KWallet on Linux) and try again.',
      );
    }
    // On Linux without a Secret Service or KWallet, Chromium falls back to `basic_text`: a hard-coded key,
    // which is plaintext with extra steps. Refuse it just the same.
    if (this.platform === 'linux' && this.safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
      throw new ServiceError(
        'UNAVAILABLE',
        'No system keychain was found (GNOME Keyring, KWallet or another Secret Service), so Spillway will not store the API key. Install or unlock one and restart Spillway.',
      );
    }
  }
}
