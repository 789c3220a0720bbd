/**
 * Legacy text completions (`/v1/completions`) on one of the engine's sequences: node-llama-cpp's
 * `LlamaCompletion` continues the prompt as it is, with no chat template.
 */
import { LlamaCompletion, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { DriverError, isAbortError } from '../core/errors.js';
import type { HostCompletion, TextCompletionParams } from './protocol.js';

/** The prompt's tokens as LlamaCompletion evaluates them: the beginning-of-sequence token, then the text. */
export function promptTokens(model: LlamaModel, prompt: string): Token[] {
  const text = model.tokenize(prompt, false, 'trimLeadingSpace');
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken && text[0] !== bos ? [bos, ...text] : text;
}

export interface TextGeneration {
  text: string;
  outputTokens: number;
  firstTokenAt: number | null;
  stopReason: HostCompletion['stopReason'];
}

/** Continues the prompt on a leased sequence; `maxTokens` is already bounded by the room left in the context. */
export async function generateText(
  sequence: LlamaContextSequence,
  params: TextCompletionParams,
  maxTokens: number,
  signal: AbortSignal,
  onText: (text: string) => void,
): Promise<TextGeneration> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const result: TextGeneration = { text: '', outputTokens: 0, firstTokenAt: null, stopReason: 'stop' };
  let streamed = '';
  try {
    const { response, metadata } = await completion.generateCompletionWithMeta(params.prompt, {
      signal,
      stopOnAbortSignal: true,
      maxTokens,
      // The caller has checked that prompt and answer fit: nothing is ever shifted out of the context.
      disableContextShift: true,
      temperature: params.temperature ?? 0,
      ...(params.topP === undefined ? {} : { topP: params.topP }),
      ...(params.seed === undefined ? {} : { seed: params.seed }),
      ...(params.stop && params.stop.length > 0 ? { customStopTriggers: params.stop } : {}),
      onToken: (tokens) => {
        result.outputTokens += tokens.length;
      },
      onTextChunk: (chunk) => {
        if (chunk === '') return;
        result.firstTokenAt ??= performance.now();
        streamed += chunk;
        onText(chunk);
      },
    });
    result.text = response;
    result.stopReason = metadata.stopReason === 'maxTokens' ? 'length' : metadata.stopReason === 'abort' ? 'aborted' : 'stop';
  } catch (error) {
    if (!(signal.aborted || isAbortError(error))) {
      throw new DriverError('inference_failed', `Local generation failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    result.text = streamed;
    result.stopReason = 'aborted';
  } finally {
    // The sequence stays the engine's: only this completion's hold on it ends.
    completion.dispose({ disposeSequence: false });
  }
  if (signal.aborted) result.stopReason = 'aborted';
  return result;
}
