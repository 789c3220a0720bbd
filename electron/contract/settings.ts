/** Everything the user can configure. Plain types and constants only. */
import type { Capability, PrivacyTier, RoutingStrategy } from './routing.js';

export type EndpointPreset = 'openai' | 'openrouter' | 'groq' | 'together' | 'ollama' | 'lmstudio' | 'llamacpp' | 'custom';

/** Base URL and display name each endpoint preset fills in. */
export const ENDPOINT_PRESETS: Record<Exclude<EndpointPreset, 'custom'>, { name: string; baseURL: string }> = {
  openai: { name: 'OpenAI', baseURL: 'https://api.openai.com/v1' },
  openrouter: { name: 'OpenRouter', baseURL: 'https://openrouter.ai/api/v1' },
  groq: { name: 'Groq', baseURL: 'https://api.groq.com/openai/v1' },
  together: { name: 'Together', baseURL: 'https://api.together.xyz/v1' },
  ollama: { name: 'Ollama', baseURL: 'http://127.0.0.1:11434/v1' },
  lmstudio: { name: 'LM Studio', baseURL: 'http://127.0.0.1:1234/v1' },
  llamacpp: { name: 'llama.cpp server', baseURL: 'http://127.0.0.1:8080/v1' },
};

/** The most requests the local engine may be set to answer at once (`local.parallel`, `--parallel`). */
export const MAX_PARALLEL = 16;

/** Declared capabilities: true or false as the person set them, null to use what the endpoint says. */
export type EndpointCapabilities = Record<Capability, boolean | null>;

/** One OpenAI-compatible endpoint of the route. Its API key is not here: it lives in the OS keychain. */
export interface EndpointSettings {
  /** Stable id (letters, digits, - and _): the key's name, the ledger's and the X-Spillway-Endpoint header's. */
  id: string;
  name: string;
  preset: EndpointPreset;
  baseURL: string;
  model: string;
  contextWindow: number;
  /**
   * Declared tier; null uses the tier inferred from the URL. It may only be more permissive than inferred
   * (a loopback URL can be a proxy to the cloud), never less.
   */
  tier: PrivacyTier | null;
  capabilities: EndpointCapabilities;
  /** What the endpoint said about the model when last tested, where it says anything. */
  learned: Partial<Record<Capability, boolean>>;
  /** A disabled endpoint stays configured but is never asked. */
  enabled: boolean;
}

export interface Settings {
  routing: {
    strategy: RoutingStrategy;
    /** The most permissive tier a request may reach. */
    ceiling: PrivacyTier;
    /** Ask before anything leaves this computer. */
    askBeforeSending: boolean;
    /** Longest wait for the local model to load, in ms (0: none). */
    loadTimeoutMs: number;
    /** Longest wait for the first text from the local model, prompt counting included, in ms (0: none). */
    firstTokenTimeoutMs: number;
    /** Longest silence between pieces of the local model's text, in ms (0: none). */
    idleTimeoutMs: number;
    /** An endpoint's limit on the wait for its first text and on any silence after, in ms. */
    cloudTimeoutMs: number;
    circuitThreshold: number;
    circuitCooldownMs: number;
  };
  local: {
    modelPath: string | null;
    /** null: the default the app measured for this machine. */
    threads: number | null;
    gpuLayers: number | 'auto';
    /** null: the model's trained context, capped to keep memory reasonable. */
    contextSize: number | null;
    /** Requests answered at once (one sequence each); null: what memory allows for that many contexts. */
    parallel: number | null;
    /** A GGUF model that makes embeddings (`/v1/embeddings`) beside the chat model; null or absent: the chat model makes them. */
    embeddingModelPath?: string | null;
  };
  /** The endpoints of the route, in the order they are tried. */
  endpoints: EndpointSettings[];
  generation: {
    systemPrompt: string;
    temperature: number;
    maxTokens: number | null;
  };
  server: {
    /** The OpenAI-compatible server on 127.0.0.1, off by default. */
    enabled: boolean;
    port: number;
  };
  models: {
    /** Where downloaded models go; null: `models` in the user data directory. */
    dir: string | null;
    /** GGUF files added from elsewhere on disk. */
    extraPaths: string[];
  };
}

/** An update: a partial of each section; `endpoints`, when given, replaces the whole list. */
export type SettingsPatch = {
  [K in keyof Settings]?: Settings[K] extends unknown[] ? Settings[K] : Partial<Settings[K]>;
};

/** An endpoint as the settings form submits it: without an id it is added, with one it replaces that one. */
export type EndpointInput = Omit<EndpointSettings, 'id' | 'learned'> & { id?: string };

/** Settings as callers see them: plus which keys are stored, never the keys. */
export interface PublicSettings extends Settings {
  /** Endpoint ids that have an API key stored. */
  endpointKeys: string[];
  huggingFaceTokenSet: boolean;
  /** The models folder actually in use (the default when `models.dir` is null). */
  modelsDir: string;
}
