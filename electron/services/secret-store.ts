/**
 * Where secrets live, by name: one API key per endpoint (named by the endpoint's id) and the Hugging Face
 * token. The desktop app encrypts them with Electron's safeStorage (the OS keychain, see electron/main);
 * headless mode takes them from the environment and keeps them in memory only. Either way, callers only
 * ever learn which names have a secret.
 */
export interface SecretStore {
  get(name: string): string | null;
  /** Stores `secret` under `name`; null removes it. */
  set(name: string, secret: string | null): Promise<void>;
  /** The names that have a secret. */
  names(): string[];
}

/** Holds secrets in memory for this run only. */
export class MemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, string>();

  constructor(initial: Record<string, string | null | undefined> = {}) {
    for (const [name, secret] of Object.entries(initial)) if (secret) this.secrets.set(name, secret);
  }

  get(name: string): string | null {
    return this.secrets.get(name) ?? null;
  }

  async set(name: string, secret: string | null): Promise<void> {
    if (secret === null) this.secrets.delete(name);
    else this.secrets.set(name, secret);
  }

  names(): string[] {
    return [...this.secrets.keys()];
  }
}
