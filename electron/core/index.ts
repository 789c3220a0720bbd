/** The public surface of the routing core: pure TypeScript, no Electron and no node-llama-cpp. */
export { RoutingDriver, type RoutingDriverOptions, type RouterMetrics } from './router.js';
export { DriverError, isRetryableKind, RETRYABLE_KINDS } from './errors.js';
export { DeltaBatcher } from './delta-batcher.js';
export type { CircuitSnapshot, CircuitState, CircuitBreakerOptions } from './circuit-breaker.js';
export type { Distribution, DriverLatency, RoutingEvent, RoutingOutcome } from './metrics.js';
export type { TimeoutOptions } from './timeouts.js';
export type {
  ChatMessage,
  ChatRole,
  CompletionRequest,
  CompletionResponse,
  DriverErrorData,
  DriverErrorKind,
  DriverRole,
  LlmDriver,
  PrivacyTier,
  RoutingStrategy,
  SamplingOptions,
  StopReason,
  Timings,
  Usage,
} from './types.js';
export { PRIVACY_TIERS, ROUTING_STRATEGIES } from './types.js';
