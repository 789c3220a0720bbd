/**
 * Legacy text completions (`/v1/completions`) on one of the engine's sequences: node-llama-cpp's
 * `LlamaCompletion` continues the prompt as it is, with no chat template.
 */
import { LlamaCompletion, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { DriverError, isAbortError } from '../core/errors.js';
import type { HostCompletion, TextCompletionParams } from './protocol.js';

/**
 * The prompt's tokens as LlamaCompletion evaluates them: the beginning-of-sequence token, then the text;
 * with a suffix, the fill-in-the-middle layout (prefix token, prompt, suffix token, suffix, middle token).
 */
export function promptTokens(model: LlamaModel, prompt: string, suffix?: string): Token[] {
  const text = model.tokenize(prompt, false, 'trimLeadingSpace');
  const bos = model.tokens.bos;
  const start = bos !== null && model.tokens.shouldPrependBosToken && text[0] !== bos ? [bos] : [];
  if (suffix === undefined) return [...start, ...text];
  const { prefix, suffix: suffixToken, middle } = model.tokens.infill;
  const after = model.tokenize(suffix, false, 'trimLeadingSpace');
  if (middle === null) return [...start, suffixToken!, ...after, prefix!, ...text];
  return [...start, prefix!, ...text, suffixToken!, ...after, middle];
}

/** True when the model has the tokens to fill in the middle. */
export function canFillIn(model: LlamaModel): boolean {
  return model.tokens.infill.prefix !== null && model.tokens.infill.suffix !== null;
}

export interface TextGeneration {
  text: string;
  outputTokens: number;
  firstTokenAt: number | null;
  stopReason: HostCompletion['stopReason'];
}

/**
 * Continues the prompt on a leased sequence; `maxTokens` is already bounded by the room left in the
 * context. Stop texts are found in the text itself, as OpenAI finds them: node-llama-cpp's own stop
 * triggers match tokens, so a stop text that starts inside a token (" local" in "▁local") would be missed.
 */
export async function generateText(
  sequence: LlamaContextSequence,
  params: TextCompletionParams,
  maxTokens: number,
  signal: AbortSignal,
  onText: (text: string) => void,
): Promise<TextGeneration> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const result: TextGeneration = { text: '', outputTokens: 0, firstTokenAt: null, stopReason: 'stop' };
  const stopped = new AbortController();
  const scanner = new StopScanner(params.stop ?? [], (text) => {
    if (text === '') return;
    result.firstTokenAt ??= performance.now();
    result.text += text;
    onText(text);
  });
  try {
    const options = {
      signal: AbortSignal.any([signal, stopped.signal]),
      stopOnAbortSignal: true,
      maxTokens,
      // The caller has checked that prompt and answer fit: nothing is ever shifted out of the context.
      disableContextShift: true,
      temperature: params.temperature ?? 0,
      ...(params.topP === undefined ? {} : { topP: params.topP }),
      ...(params.seed === undefined ? {} : { seed: params.seed }),
      onToken: (tokens: Token[]) => {
        if (!scanner.found) result.outputTokens += tokens.length;
      },
      onTextChunk: (chunk: string) => {
        if (scanner.push(chunk)) stopped.abort();
      },
    };
    const { metadata } = params.suffix === undefined
      ? await completion.generateCompletionWithMeta(params.prompt, options)
      : await completion.generateInfillCompletionWithMeta(params.prompt, params.suffix, options);
    if (scanner.found) result.stopReason = 'stop';
    else {
      scanner.flush();
      result.stopReason = metadata.stopReason === 'maxTokens' ? 'length' : metadata.stopReason === 'abort' ? 'aborted' : 'stop';
    }
  } catch (error) {
    if (!(signal.aborted || stopped.signal.aborted || isAbortError(error))) {
      throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    result.stopReason = scanner.found ? 'stop' : 'aborted';
  } finally {
    // The sequence stays the engine's: only this completion's hold on it ends.
    completion.dispose({ disposeSequence: false });
  }
  if (signal.aborted) result.stopReason = 'aborted';
  return result;
}

/**
 * Passes text on, holding back what may be the start of a stop text; once a stop text appears, passes on
 * only what came before it.
 */
export class StopScanner {
  found = false;
  private pending = '';

  constructor(
    private readonly stops: readonly string[],
    private readonly emit: (text: string) => void,
  ) {}

  /** Takes the next piece of text; true once a stop text has appeared (nothing more is passed on). */
  push(chunk: string): boolean {
    if (this.found) return true;
    this.pending += chunk;
    let at = -1;
    for (const stop of this.stops) {
      if (stop === '') continue;
      const index = this.pending.indexOf(stop);
      if (index !== -1 && (at === -1 || index < at)) at = index;
    }
    if (at !== -1) {
      this.found = true;
      this.emit(this.pending.slice(0, at));
      this.pending = '';
      return true;
    }
    const keep = this.heldBack();
    this.emit(this.pending.slice(0, this.pending.length - keep));
    this.pending = this.pending.slice(this.pending.length - keep);
    return false;
  }

  /** Passes on what was held back: the text ended without a stop text. */
  flush(): void {
    if (!this.found) this.emit(this.pending);
    this.pending = '';
  }

  /** The longest end of the pending text that begins some stop text. */
  private heldBack(): number {
    let keep = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.pending.length); k > keep; k--) {
        if (this.pending.endsWith(stop.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    return keep;
  }
}
