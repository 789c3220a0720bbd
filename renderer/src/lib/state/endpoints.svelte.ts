/**
 * Settings → Endpoints: the OpenAI-compatible endpoints of the route, in the order they are tried, with
 * the form that adds or edits one. Every change goes through the services, which validate it; a refusal
 * names the field it is about, and the form shows it there.
 */
import {
  ENDPOINT_PRESETS,
  type AppError,
  type Capability,
  type ConnectionTest,
  type EndpointInput,
  type EndpointPreset,
  type EndpointSettings,
  type PrivacyTier,
  type PublicSettings,
  type Result,
  type SpillwayApi,
} from '../../../../electron/contract/index.js';
import type { RoutingState } from './routing.svelte.js';
import type { SettingsState } from './settings.svelte.js';

/** A tested endpoint: its answer, or why it did not answer. */
export type TestOutcome = { ok: true; value: ConnectionTest } | { ok: false; error: AppError } | 'testing';

/** A declared capability as the form's select shows it. */
export type TriState = 'auto' | 'yes' | 'no';

export const toTri = (value: boolean | null): TriState => (value === null ? 'auto' : value ? 'yes' : 'no');
export const fromTri = (value: TriState): boolean | null => (value === 'auto' ? null : value === 'yes');

/** Where refusals and test results of the add/edit form are kept (not an endpoint id: ids have no '#'). */
export const FORM = '#form';

/** What a new endpoint starts as. */
export function blankEndpoint(): EndpointInput {
  return {
    name: '',
    preset: 'custom',
    baseURL: '',
    model: '',
    contextWindow: 32_768,
    tier: null,
    capabilities: { images: null, tools: null, embeddings: null },
    enabled: true,
  };
}

export class EndpointsState {
  /** The endpoint being added (no id) or edited; null when the form is closed. */
  draft = $state<EndpointInput | null>(null);
  /** A key typed into the form: stored with the endpoint once it is saved, never read back. */
  draftKey = $state('');
  /** The last refusal, with the field it names, and which endpoint (or FORM) it concerns. */
  error = $state<AppError | null>(null);
  errorAt = $state<string | null>(null);
  tests = $state<Record<string, TestOutcome>>({});

  constructor(
    private readonly api: SpillwayApi,
    private readonly settings: SettingsState,
    private readonly routing: RoutingState,
  ) {}

  /** The endpoints in the order they are tried. */
  get list(): EndpointSettings[] {
    return this.settings.settings?.endpoints ?? [];
  }

  startAdd(): void {
    this.draft = blankEndpoint();
    this.resetForm();
  }

  startEdit(id: string): void {
    const endpoint = this.list.find((e) => e.id === id);
    if (!endpoint) return;
    const { learned: _learned, ...input } = $state.snapshot(endpoint);
    this.draft = input;
    this.resetForm();
  }

  closeForm(): void {
    this.draft = null;
    this.resetForm();
  }

  /** A preset fills the name (unless one was typed) and the base URL. */
  choosePreset(preset: EndpointPreset): void {
    if (!this.draft) return;
    this.draft.preset = preset;
    if (preset === 'custom') return;
    const filled = ENDPOINT_PRESETS[preset];
    const presetNames = Object.values(ENDPOINT_PRESETS).map((p) => p.name);
    if (this.draft.name.trim() === '' || presetNames.includes(this.draft.name)) this.draft.name = filled.name;
    this.draft.baseURL = filled.baseURL;
  }

  setCapability(capability: Capability, value: TriState): void {
    if (this.draft) this.draft.capabilities[capability] = fromTri(value);
  }

  /** Adds (no id) or replaces the endpoint, then stores the key typed with it; the form closes on success. */
  async saveDraft(): Promise<boolean> {
    if (!this.draft) return false;
    const before = new Set(this.list.map((e) => e.id));
    const editing = this.draft.id;
    const key = this.draftKey.trim();
    if (!this.settle(FORM, await this.api.endpointsSave({ endpoint: $state.snapshot(this.draft) }))) return false;
    // The services name a new endpoint: it is the one that was not there before.
    const id = editing ?? this.list.find((e) => !before.has(e.id))?.id;
    if (key && id) {
      const stored = await this.api.endpointsSetKey({ id, apiKey: key });
      if (!stored.ok) {
        // Saved, but its key was refused: go on editing the saved endpoint, the key and the reason kept.
        this.startEdit(id);
        this.draftKey = key;
        this.settle(FORM, stored);
        return false;
      }
      this.settle(FORM, stored);
    }
    this.draft = null;
    this.resetForm();
    return true;
  }

  /** Tries the form's endpoint before saving it (with the key typed, or the saved one when editing). */
  async testDraft(): Promise<void> {
    if (!this.draft) return;
    const { id, baseURL, model } = this.draft;
    const key = this.draftKey.trim();
    this.tests[FORM] = 'testing';
    this.tests[FORM] = await this.api.endpointsTest({
      ...(id === undefined ? {} : { id }),
      ...(baseURL.trim() ? { baseURL: baseURL.trim() } : {}),
      ...(model.trim() ? { model: model.trim() } : {}),
      ...(key ? { apiKey: key } : {}),
    });
  }

  async remove(id: string): Promise<boolean> {
    const ok = this.settle(id, await this.api.endpointsRemove({ id }));
    if (ok) delete this.tests[id];
    return ok;
  }

  /** Moves an endpoint one place earlier (-1) or later (+1) in the route. */
  async move(id: string, by: -1 | 1): Promise<boolean> {
    const at = this.list.findIndex((e) => e.id === id);
    const index = at + by;
    if (at === -1 || index < 0 || index >= this.list.length) return false;
    return this.settle(id, await this.api.endpointsMove({ id, index }));
  }

  /** Stores (or with null removes) an endpoint's API key; the key itself never comes back. */
  async setKey(id: string, apiKey: string | null): Promise<boolean> {
    return this.settle(id, await this.api.endpointsSetKey({ id, apiKey }));
  }

  /** Asks the saved endpoint for its models; what it says about the model is remembered by the services. */
  async test(id: string): Promise<void> {
    this.tests[id] = 'testing';
    this.tests[id] = await this.api.endpointsTest({ id });
  }

  /** The refusal's message when it names `field` for `at` (an endpoint id, or FORM). */
  fieldError(at: string, field: string): string | null {
    return this.errorAt === at && this.error?.field === field ? this.error.message : null;
  }

  /** A refusal for `at` that names no field the form shows. */
  otherError(at: string, shown: readonly string[]): string | null {
    if (this.errorAt !== at || !this.error) return null;
    return this.error.field && shown.includes(this.error.field) ? null : this.error.message;
  }

  hasKey(id: string): boolean {
    return this.settings.settings?.endpointKeys.includes(id) ?? false;
  }

  /** The tier an endpoint runs at in plain words: declared, or as its address shows (when the route knows it). */
  tierOf(id: string): { tier: PrivacyTier | null; declared: boolean } {
    const endpoint = this.list.find((e) => e.id === id);
    if (endpoint?.tier) return { tier: endpoint.tier, declared: true };
    return { tier: this.routing.state?.route.find((e) => e.id === id)?.tier ?? null, declared: false };
  }

  private resetForm(): void {
    this.draftKey = '';
    delete this.tests[FORM];
    this.clearError();
  }

  private clearError(): void {
    this.error = null;
    this.errorAt = null;
  }

  private settle(at: string, result: Result<PublicSettings>): boolean {
    if (!result.ok) {
      this.error = result.error;
      this.errorAt = at;
      return false;
    }
    this.clearError();
    this.settings.settings = result.value;
    return true;
  }
}
