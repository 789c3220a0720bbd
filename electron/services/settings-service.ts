/**
 * Settings as the app runs with them: the stored file, this run's command-line flags on top (never saved),
 * the secrets by name (an API key per endpoint, the Hugging Face token), and the `settings:update` event.
 * Every change is validated whole before anything is stored.
 */
import type { Capability, EndpointInput, EndpointSettings, PublicSettings, Settings, SettingsPatch } from '../contract/index.js';
import { ServiceError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { SecretStore } from './secret-store.js';
import { mergeSettings, type SettingsStore } from './settings-store.js';

/** The Hugging Face token's name in its store. */
export const HF_TOKEN = 'huggingface';

export interface SettingsServiceOptions {
  store: SettingsStore;
  /** Command-line flags: they win over stored settings for this run and are not saved. */
  overrides: SettingsPatch;
  /** Endpoint API keys, by endpoint id. */
  keys: SecretStore;
  /** The Hugging Face token (under HF_TOKEN); absent where no token can be kept (set HF_TOKEN instead). */
  hfToken: SecretStore | null;
  /** The models folder chosen at start. */
  modelsDir: string;
  events: EventHub;
}

export class SettingsService {
  private overrides: SettingsPatch;
  private readonly listeners = new Set<(settings: Settings) => void>();

  constructor(private readonly options: SettingsServiceOptions) {
    this.overrides = structuredClone(options.overrides);
  }

  /** The effective settings: stored ones with this run's flags on top. */
  current(): Settings {
    return mergeSettings(this.options.store.get(), this.overrides);
  }

  /** Settings as callers see them: which keys are set, never the keys. */
  publicView(): PublicSettings {
    const endpoints = this.current().endpoints.map((e) => e.id);
    return {
      ...this.current(),
      endpointKeys: this.options.keys.names().filter((name) => endpoints.includes(name)),
      huggingFaceTokenSet: this.options.hfToken?.get(HF_TOKEN) != null,
      modelsDir: this.options.modelsDir,
    };
  }

  /** The API key of an endpoint, for its driver. */
  key(endpointId: string): string | null {
    return this.options.keys.get(endpointId);
  }

  hfToken(): string | null {
    return this.options.hfToken?.get(HF_TOKEN) ?? null;
  }

  /** Calls `listener` with the new effective settings after every change. */
  onChange(listener: (settings: Settings) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies a patch, all or nothing; a field set now is no longer held by a flag. */
  async update(patch: SettingsPatch): Promise<PublicSettings> {
    // Validate against what is stored, with the patch: the flags are this run's, not the file's.
    await this.options.store.update(patch);
    for (const [section, values] of Object.entries(patch) as Array<[keyof Settings, unknown]>) {
      const held = this.overrides[section];
      if (!held || values === undefined) continue;
      if (Array.isArray(values)) delete this.overrides[section];
      else for (const key of Object.keys(values as object)) delete (held as Record<string, unknown>)[key];
    }
    return this.changed();
  }

  /** Adds an endpoint (no id: one is made from its name) or replaces the one with that id. */
  async saveEndpoint(input: EndpointInput): Promise<PublicSettings> {
    const list = this.current().endpoints;
    if (input.id !== undefined) {
      const at = list.findIndex((e) => e.id === input.id);
      if (at === -1) throw new ServiceError('NOT_FOUND', `There is no endpoint "${input.id}".`, 'endpoint.id');
      const before = list[at]!;
      // What the endpoint said about its model no longer holds for another server or model.
      const learned = before.baseURL === input.baseURL && before.model === input.model ? before.learned : {};
      list[at] = { ...input, id: before.id, learned };
    } else {
      list.push({ ...input, id: uniqueId(input.name, list), learned: {} });
    }
    return this.setEndpoints(list);
  }

  /** Removes an endpoint and its stored key. */
  async removeEndpoint(id: string): Promise<PublicSettings> {
    const list = this.current().endpoints;
    if (!list.some((e) => e.id === id)) throw new ServiceError('NOT_FOUND', `There is no endpoint "${id}".`, 'id');
    const result = await this.setEndpoints(list.filter((e) => e.id !== id));
    if (this.options.keys.get(id) !== null) await this.options.keys.set(id, null);
    return result;
  }

  /** Moves an endpoint to `index` among the endpoints (clamped to the list). */
  async moveEndpoint(id: string, index: number): Promise<PublicSettings> {
    const list = this.current().endpoints;
    const at = list.findIndex((e) => e.id === id);
    if (at === -1) throw new ServiceError('NOT_FOUND', `There is no endpoint "${id}".`, 'id');
    const [moved] = list.splice(at, 1);
    list.splice(Math.min(index, list.length), 0, moved!);
    return this.setEndpoints(list);
  }

  /** Stores (or with null removes) an endpoint's API key. */
  async setEndpointKey(id: string, apiKey: string | null): Promise<PublicSettings> {
    if (!this.current().endpoints.some((e) => e.id === id)) throw new ServiceError('NOT_FOUND', `There is no endpoint "${id}".`, 'id');
    await this.options.keys.set(id, apiKey);
    return this.changed();
  }

  /** Remembers what an endpoint said about its model's capabilities. */
  async learn(id: string, learned: Partial<Record<Capability, boolean>>): Promise<void> {
    const list = this.current().endpoints;
    const endpoint = list.find((e) => e.id === id);
    if (!endpoint || JSON.stringify(endpoint.learned) === JSON.stringify(learned)) return;
    endpoint.learned = learned;
    await this.setEndpoints(list);
  }

  async setHfToken(token: string | null): Promise<PublicSettings> {
    if (!this.options.hfToken) throw new ServiceError('UNAVAILABLE', 'This mode keeps no Hugging Face token; set HF_TOKEN in the environment instead.');
    await this.options.hfToken.set(HF_TOKEN, token);
    return this.changed();
  }

  flush(): Promise<void> {
    return this.options.store.flush();
  }

  private setEndpoints(endpoints: EndpointSettings[]): Promise<PublicSettings> {
    return this.update({ endpoints });
  }

  private changed(): PublicSettings {
    const settings = this.current();
    for (const listener of this.listeners) listener(settings);
    const view = this.publicView();
    this.options.events.emit('settings:update', view);
    return view;
  }
}

/** An id made from a name: lower-case letters, digits and dashes, unique in the list, never `local`. */
function uniqueId(name: string, list: readonly EndpointSettings[]): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'endpoint';
  const taken = new Set(['local', ...list.map((e) => e.id)]);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
