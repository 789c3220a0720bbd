/**
 * OpenAI's sampling fields as node-llama-cpp's options: token bias, repeat penalties and grammars for
 * structured output. Grammars are built here, in the host (they hold native objects), and cached by schema:
 * a client sending the same schema with every request compiles it once.
 */
import { TokenBias, type Llama, type LlamaGrammar, type LlamaModel, type Token } from 'node-llama-cpp';
import { DriverError } from '../core/errors.js';
import type { ResponseFormat } from '../core/types.js';
import { grammarSchema } from './json-schema-support.js';
import type { GenerateParams } from './protocol.js';

/** Distinct schemas kept compiled; the oldest is dropped beyond this. */
const GRAMMAR_CACHE_SIZE = 32;

/** OpenAI's "ban this token". */
const BAN = -100;

/** The sampler settings both generation paths share. */
export interface SamplerOptions {
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  tokenBias?: TokenBias;
}

/** The sampler settings of a request; a logit_bias naming a token the model does not have is refused. */
export function samplerOptions(params: GenerateParams, model: LlamaModel, vocabularySize: number): SamplerOptions {
  return {
    temperature: params.temperature ?? 0,
    ...(params.topP === undefined ? {} : { topP: params.topP }),
    ...(params.topK === undefined ? {} : { topK: params.topK }),
    ...(params.minP === undefined ? {} : { minP: params.minP }),
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    ...(params.logitBias === undefined || Object.keys(params.logitBias).length === 0 ? {} : { tokenBias: tokenBias(params.logitBias, model, vocabularySize) }),
  };
}

/** OpenAI's logit_bias as a TokenBias: the value is added to the token's logit, and -100 bans it. */
export function tokenBias(logitBias: Record<string, number>, model: LlamaModel, vocabularySize: number): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  for (const [key, value] of Object.entries(logitBias)) {
    const token = Number(key);
    if (!Number.isInteger(token) || token < 0 || token >= vocabularySize) {
      throw new DriverError('invalid_request', `logit_bias: token ${key} is not in the local model's vocabulary (ids 0 to ${vocabularySize - 1}).`);
    }
    bias.set(token as Token, value <= BAN ? 'never' : { logit: value });
  }
  return bias;
}

/** presence_penalty and frequency_penalty, when given; node-llama-cpp applies them over the last tokens generated. */
export function penalties(params: GenerateParams): { presencePenalty?: number; frequencyPenalty?: number } | null {
  if (params.presencePenalty === undefined && params.frequencyPenalty === undefined) return null;
  return {
    ...(params.presencePenalty === undefined ? {} : { presencePenalty: params.presencePenalty }),
    ...(params.frequencyPenalty === undefined ? {} : { frequencyPenalty: params.frequencyPenalty }),
  };
}

/** Compiled grammars of one loaded model's llama, by response format. */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /** The grammar for a response format; a schema node-llama-cpp cannot turn into a grammar is a clear invalid_request. */
  async get(format: ResponseFormat): Promise<LlamaGrammar> {
    const key = format.type === 'json_object' ? 'json' : JSON.stringify(format.schema);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      grammar = this.build(format);
      this.grammars.set(key, grammar);
      // A schema that failed is not kept: the error is cheap to produce again.
      grammar.catch(() => this.grammars.delete(key));
      if (this.grammars.size > GRAMMAR_CACHE_SIZE) this.grammars.delete(this.grammars.keys().next().value!);
    } else {
      // Most recently used last, so the oldest unused schema is the one dropped.
      this.grammars.delete(key);
      this.grammars.set(key, grammar);
    }
    return grammar;
  }

  private async build(format: ResponseFormat): Promise<LlamaGrammar> {
    if (format.type === 'json_object') return this.llama.getGrammarFor('json');
    const checked = grammarSchema(format.schema);
    if (!checked.ok) throw new DriverError('invalid_request', `response_format.json_schema.schema: ${checked.error}.`);
    try {
      // The schema is the client's, checked above and by node-llama-cpp at run time: its compile-time type cannot describe it.
      return await this.llama.createGrammarForJsonSchema(checked.schema as never);
    } catch (error) {
      throw new DriverError(
        'invalid_request',
        `response_format.json_schema.schema: the local model cannot decode under this schema: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
