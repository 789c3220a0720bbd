/**
 * Where the cloud API key lives. The desktop app encrypts it with Electron's safeStorage (the OS keychain,
 * see electron/main); headless mode takes it from SPILLWAY_REMOTE_API_KEY and keeps it in memory only.
 * Either way, callers only ever learn whether a key is set.
 */
export interface SecretStore {
  get(): string | null;
  set(secret: string | null): Promise<void>;
}

/** Holds the key in memory for this run only. */
export class MemorySecretStore implements SecretStore {
  constructor(private secret: string | null = null) {}

  get(): string | null {
    return this.secret;
  }

  async set(secret: string | null): Promise<void> {
    this.secret = secret;
  }
}
