/**
 * What the OpenAI-compatible API (/v1) may do with the route: list the models of its entries (and `auto`),
 * pick the entry a request names by its model, and answer under the app's strategy and ceiling. It never
 * asks for consent (no person is there to ask); every request that leaves this computer is still recorded
 * in the egress ledger, as `api`.
 */
import { randomInt } from 'node:crypto';
import { basename } from 'node:path';
import type { RouteEntryInfo } from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import type { CompletionRequest, CompletionResponse, EmbeddingResponse } from '../core/types.js';
import type { RouterService } from './router-service.js';
import type { SettingsService } from './settings-service.js';

/** The model name that leaves the choice of entry to the route. */
export const AUTO_MODEL = 'auto';

/** A model of the route as `GET /v1/models` lists it. */
export interface ApiModel {
  id: string;
  /** The entry serving it: `local`, or an endpoint's id; null for `auto`. */
  entryId: string | null;
  /** Who serves it: `local`, the endpoint's host, or `spillway` for `auto`. */
  ownedBy: string;
  /** Set for the embedding model chosen in settings: it serves `/v1/embeddings` only. */
  embeddingsOnly?: true;
}

export class OpenAIService {
  constructor(
    private readonly routing: RouterService,
    /** The app's generation settings: a request without temperature gets the app's, as in the chat. */
    private readonly settings?: Pick<SettingsService, 'current'>,
  ) {}

  /**
   * The model of each entry the app's strategy and ceiling allow, in route order, then `auto`. The local
   * model is listed by its file name, which does not change when it loads (its answers report the name
   * inside the file, which is accepted too).
   */
  models(): ApiModel[] {
    const listed = this.entries()
      .filter((entry) => entry.excluded === undefined)
      .map((entry) => ({ id: this.idOf(entry), entryId: entry.id, ownedBy: entry.host ?? 'local' }));
    return [...listed, ...this.embeddingModels(listed), { id: AUTO_MODEL, entryId: null, ownedBy: 'spillway' }];
  }

  /** The listed model with this id (or the local model's own name), or null. */
  model(id: string): ApiModel | null {
    const models = this.models();
    const local = this.entries().find((entry) => entry.kind === 'local' && entry.excluded === undefined && entry.model === id);
    return models.find((model) => model.id === id) ?? (local ? (models.find((model) => model.entryId === local.id) ?? null) : null);
  }

  /**
   * Answers one chat completion under the app's strategy and ceiling. A `model` naming a listed model goes
   * to that model's entry (still under the ceiling); `auto`, or none, leaves the choice to the route.
   */
  async complete(request: CompletionRequest, model: string | null | undefined): Promise<CompletionResponse> {
    this.refuseEmbeddingModel(model);
    const entryId = this.entryFor(model);
    return this.routing.route(this.withDefaults(request), entryId === null ? {} : { entryId });
  }

  /**
   * Answers with `n` choices. An endpoint gets n in the client's body and answers all of them itself; on the
   * local model the choices are generated one after another on the entry that answered the first, each
   * with its own seed (seed + index when a seed was given, else a random one), so they differ as OpenAI's do. `onChoice` is
   * told which choice the text that follows belongs to.
   */
  async completeChoices(request: CompletionRequest, model: string | null | undefined, n: number, onChoice?: (index: number) => void): Promise<CompletionResponse[]> {
    onChoice?.(0);
    const first = await this.complete(request, model);
    const responses = [first];
    if (first.entryKind === 'remote' || first.raw) return responses;
    for (let index = 1; index < n && !request.signal?.aborted && !first.incomplete; index++) {
      onChoice?.(index);
      // Without a seed node-llama-cpp seeds from the clock in whole seconds: choices made within one second
      // would all be the same answer.
      const seed = request.seed === undefined ? randomInt(2 ** 31) : (request.seed + index) % 2 ** 31;
      responses.push(await this.routing.route(this.withDefaults({ ...request, seed }), { entryId: first.entryId }));
    }
    return responses;
  }

  private withDefaults(request: CompletionRequest): CompletionRequest {
    if (request.temperature !== undefined || !this.settings) return request;
    return { ...request, temperature: this.settings.current().generation.temperature };
  }

  /** Answers on this entry only, still under the ceiling: the rest of a request that entry began (a legacy completion's other prompts). */
  async completeOn(request: CompletionRequest, entryId: string): Promise<CompletionResponse> {
    return this.routing.route(this.withDefaults(request), { entryId });
  }

  /**
   * Embeds each input under the app's strategy and ceiling, the `model` field choosing the entry as for
   * chat. `forward` is the client's body, which an endpoint gets as it is (only `model` becomes its own).
   */
  async embed(input: string[], model: string | null | undefined, options: { signal?: AbortSignal; forward?: Record<string, unknown> } = {}): Promise<EmbeddingResponse> {
    const entryId = this.entryFor(model);
    return this.routing.embed(input, { ...options, ...(entryId === null ? {} : { entryId }) });
  }

  /** The entry a model name selects (null: the route decides); throws model_not_found as OpenAI does for an unknown one. */
  entryFor(model: string | null | undefined): string | null {
    if (model === undefined || model === null || model === '' || model === AUTO_MODEL) return null;
    const listed = this.model(model);
    if (listed) return listed.entryId;
    const entry = this.entries().find((e) => e.model === model);
    if (entry?.excluded === 'strategy') {
      throw new DriverError('model_not_found', `The model "${model}" is served by ${entry.name}, which the current strategy does not use.`);
    }
    // Beyond the ceiling: routed there anyway, so the refusal says which entry was kept from the request and why.
    if (entry) return entry.id;
    throw new DriverError('model_not_found', `The model "${model}" does not exist here. GET /v1/models lists the models you can use, and "auto" lets the route choose.`);
  }

  /** The embedding model chosen in settings, listed beside the local model it runs with. */
  private embeddingModels(listed: ApiModel[]): ApiModel[] {
    const path = this.routing.embeddingModelPath();
    const local = listed.find((model) => model.entryId === 'local');
    if (!path || !local) return [];
    const id = basename(path).replace(/\.gguf$/i, '');
    return listed.some((model) => model.id === id) ? [] : [{ id, entryId: local.entryId, ownedBy: 'local', embeddingsOnly: true }];
  }

  /** A chat or text completion naming the embedding model is a mistake worth saying, not a silent chat with another model. */
  private refuseEmbeddingModel(model: string | null | undefined): void {
    if (!model) return;
    if (this.model(model)?.embeddingsOnly) {
      throw new DriverError('invalid_request', `The model "${model}" makes embeddings only: use it with POST /v1/embeddings, or name a chat model.`);
    }
  }

  private idOf(entry: RouteEntryInfo): string {
    const path = entry.kind === 'local' ? this.routing.engineStatus().modelPath : null;
    return path ? basename(path).replace(/\.gguf$/i, '') : entry.model;
  }

  private entries(): RouteEntryInfo[] {
    const state = this.routing.state();
    const hasLocalModel = this.routing.engineStatus().state !== 'no-model';
    return state.route.filter((entry) => entry.kind !== 'local' || hasLocalModel);
  }
}
