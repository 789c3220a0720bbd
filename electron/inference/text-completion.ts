/**
 * Legacy text completions (`/v1/completions`) on one of the engine's sequences: node-llama-cpp's
 * `LlamaCompletion` continues the prompt as it is, with no chat template.
 */
import { LlamaCompletion, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { DriverError, isAbortError } from '../core/errors.js';
import type { HostCompletion, TextCompletionParams } from './protocol.js';
import { StopTextScanner } from './stop-text.js';

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
  const scanner = new StopTextScanner(params.stop ?? []);
  const emit = (text: string): void => {
    if (text === '') return;
    result.firstTokenAt ??= performance.now();
    result.text += text;
    onText(text);
  };
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
        if (!scanner.stopped) result.outputTokens += tokens.length;
      },
      onTextChunk: (chunk: string) => {
        emit(scanner.push(chunk));
        if (scanner.stopped) stopped.abort();
      },
    };
    const { metadata } = params.suffix === undefined
      ? await completion.generateCompletionWithMeta(params.prompt, options)
      : await completion.generateInfillCompletionWithMeta(params.prompt, params.suffix, options);
    if (scanner.stopped) result.stopReason = 'stop';
    else {
      emit(scanner.flush());
      result.stopReason = metadata.stopReason === 'maxTokens' ? 'length' : metadata.stopReason === 'abort' ? 'aborted' : 'stop';
    }
  } catch (error) {
    if (!(signal.aborted || stopped.signal.aborted || isAbortError(error))) {
      throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    result.stopReason = scanner.stopped ? 'stop' : 'aborted';
  } finally {
    // The sequence stays the engine's: only this completion's hold on it ends.
    completion.dispose({ disposeSequence: false });
  }
  if (signal.aborted) result.stopReason = 'aborted';
  return result;
}
