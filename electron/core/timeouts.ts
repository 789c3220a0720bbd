/**
 * First-token and idle timeouts for the primary. Local prompt processing of a long conversation can take
 * a while on a CPU, so the first-token default is generous; once text flows, a long silence means the
 * engine is stuck.
 */
import { DriverError } from './errors.js';
import type { CompletionRequest, CompletionResponse, LlmDriver } from './types.js';

export interface TimeoutOptions {
  /** Longest wait for the first streamed text, in ms (default 120 000; 0 disables). */
  firstTokenTimeoutMs?: number;
  /** Longest silence between streamed pieces, in ms (default 30 000; 0 disables). */
  idleTimeoutMs?: number;
}

export const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 120_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/**
 * Runs `driver.complete` and aborts it when a timeout expires, turning the result into a `timeout`
 * DriverError. A cancel by the caller passes straight through as a cancel.
 */
export async function runWithTimeouts(driver: LlmDriver, request: CompletionRequest, options: TimeoutOptions): Promise<CompletionResponse> {
  const firstMs = options.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const controller = new AbortController();
  const outer = request.signal;
  const forward = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) forward();
  outer?.addEventListener('abort', forward, { once: true });

  let expired: DriverError | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = (ms: number, message: string): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (ms <= 0) return;
    timer = setTimeout(() => {
      expired = new DriverError('timeout', message);
      controller.abort(expired);
    }, ms);
  };
  arm(firstMs, `${driver.modelName()} produced no text within ${formatSeconds(firstMs)}.`);
  const idleMessage = `${driver.modelName()} stopped producing text for ${formatSeconds(idleMs)}.`;
  try {
    const response = await driver.complete({
      ...request,
      signal: controller.signal,
      onText: (text) => {
        if (expired) return;
        arm(idleMs, idleMessage);
        request.onText?.(text);
      },
    });
    if (expired) throw expired;
    return response;
  } catch (error) {
    throw expired ?? error;
  } finally {
    if (timer) clearTimeout(timer);
    outer?.removeEventListener('abort', forward);
  }
}

function formatSeconds(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
