/**
 * What the OpenAI-compatible API (/v1) may do with the route: list the models of its entries and answer
 * requests under the app's strategy and ceiling. It never asks for consent (no person is there to ask);
 * every request that leaves this computer is still recorded in the egress ledger, as `api`.
 */
import type { CompletionRequest, CompletionResponse } from '../core/types.js';
import type { RouterService } from './router-service.js';

/** A model of the route as `GET /v1/models` lists it. */
export interface ApiModel {
  id: string;
  /** The entry serving it: `local`, or an endpoint's id. */
  entryId: string;
  /** Who serves it: `local`, or the endpoint's host. */
  ownedBy: string;
}

export class OpenAIService {
  constructor(private readonly routing: RouterService) {}

  /** The model of each entry the app's strategy and ceiling allow, in route order. */
  models(): ApiModel[] {
    const state = this.routing.state();
    return state.route
      .filter((entry) => entry.excluded === undefined && !(entry.kind === 'local' && this.routing.engineStatus().state === 'no-model'))
      .map((entry) => ({ id: entry.model, entryId: entry.id, ownedBy: entry.host ?? 'local' }));
  }

  /** Answers one chat completion under the app's strategy and ceiling. */
  complete(request: CompletionRequest): Promise<CompletionResponse> {
    return this.routing.route(request);
  }
}
