/**
 * Secrets by name (an API key per endpoint, the Hugging Face token), encrypted with Electron's safeStorage
 * (Keychain on macOS, DPAPI on Windows, the Secret Service or KWallet on Linux) and kept as base64
 * ciphertext in a JSON file under `<userData>`. A secret never reaches a log, an error message or the file
 * in clear. The first build's file held one key (`cloudApiKey`); it is read under `legacyName`.
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
  version: 2;
  /** name → base64 of safeStorage.encryptString(secret). */
  secrets: Record<string, string>;
}

interface SecretsFileV1 {
  version?: 1;
  cloudApiKey?: string;
}

export interface SafeStorageSecretStoreOptions {
  /** process.platform; the Linux fallback backend check only applies there. */
  platform?: NodeJS.Platform;
  /** Told once when a stored secret cannot be read back (e.g. the keyring was reset). */
  warn?: (message: string) => void;
  /** The name the first build's single `cloudApiKey` is read under. */
  legacyName?: string;
  /** What the secrets are, for messages ("API key", "Hugging Face token"). */
  what?: string;
}

export class SafeStorageSecretStore implements SecretStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly safeStorage: SafeStorageLike,
    private readonly platform: NodeJS.Platform,
    private readonly what: string,
    /** name → ciphertext (base64), as on disk. */
    private readonly stored: Map<string, string>,
    /** name → plaintext, for the secrets that could be decrypted. */
    private readonly secrets: Map<string, string>,
  ) {}

  /** Reads and decrypts the stored secrets; call after app `ready` (safeStorage needs it on Linux). */
  static async open(file: string, safeStorage: SafeStorageLike, options: SafeStorageSecretStoreOptions = {}): Promise<SafeStorageSecretStore> {
    const platform = options.platform ?? process.platform;
    const warn = options.warn ?? (() => {});
    const what = options.what ?? 'API key';
    const stored = new Map<string, string>();
    const secrets = new Map<string, string>();
    let raw: string | null = null;
    try {
      raw = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warn(`Spillway could not read its stored ${what} file; set it again in Settings.`);
    }
    if (raw !== null) {
      let undecryptable = false;
      try {
        const parsed = JSON.parse(raw) as Partial<SecretsFile> & SecretsFileV1;
        const entries: Array<[string, unknown]> =
          parsed.version === 2 && parsed.secrets && typeof parsed.secrets === 'object'
            ? Object.entries(parsed.secrets)
            : [[options.legacyName ?? 'cloud', parsed.cloudApiKey]];
        for (const [name, cipher] of entries) {
          if (typeof cipher !== 'string' || cipher.length === 0) continue;
          try {
            secrets.set(name, safeStorage.decryptString(Buffer.from(cipher, 'base64')));
            stored.set(name, cipher);
          } catch {
            undecryptable = true;
          }
        }
      } catch {
        undecryptable = true;
      }
      // Deliberately not the caught error: decrypt failures are opaque and nothing here may echo the file.
      if (undecryptable) warn(`A stored ${what} could not be read or decrypted (the system keychain may have changed). Set it again in Settings.`);
    }
    return new SafeStorageSecretStore(file, safeStorage, platform, what, stored, secrets);
  }

  get(name: string): string | null {
    return this.secrets.get(name) ?? null;
  }

  names(): string[] {
    return [...this.secrets.keys()];
  }

  /** Encrypts and saves the secret (null removes it); refuses rather than ever writing it in clear. */
  async set(name: string, secret: string | null): Promise<void> {
    const next = this.writing.then(() => this.write(name, secret));
    // A failed write must not wedge later ones.
    this.writing = next.catch(() => {});
    return next;
  }

  private async write(name: string, secret: string | null): Promise<void> {
    const stored = new Map(this.stored);
    if (secret === null) stored.delete(name);
    else {
      this.assertSecureStorage();
      let encrypted: Buffer;
      try {
        encrypted = this.safeStorage.encryptString(secret);
      } catch {
        throw new ServiceError('UNAVAILABLE', `The system keychain refused to encrypt the ${this.what}, so it was not saved.`);
      }
      stored.set(name, encrypted.toString('base64'));
    }
    const contents: SecretsFile = { version: 2, secrets: Object.fromEntries(stored) };
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new ServiceError('INTERNAL', `The ${this.what} could not be saved (${code}).`);
    }
    this.stored.clear();
    for (const [key, value] of stored) this.stored.set(key, value);
    if (secret === null) this.secrets.delete(name);
    else this.secrets.set(name, secret);
  }

  private assertSecureStorage(): void {
    if (!this.safeStorage.isEncryptionAvailable()) {
      throw new ServiceError(
        'UNAVAILABLE',
        `No system keychain is available to encrypt the ${this.what}, so Spillway will not store it. Unlock or install a keychain (e.g. GNOME Keyring or KWallet on Linux) and try again.`,
      );
    }
    // On Linux without a Secret Service or KWallet, Chromium falls back to `basic_text`: a hard-coded key,
    // which is plaintext with extra steps. Refuse it just the same.
    if (this.platform === 'linux' && this.safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
      throw new ServiceError(
        'UNAVAILABLE',
        `No system keychain was found (GNOME Keyring, KWallet or another Secret Service), so Spillway will not store the ${this.what}. Install or unlock one and restart Spillway.`,
      );
    }
  }
}
