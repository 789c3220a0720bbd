/** The public surface of the routing core: pure TypeScript, no Electron and no node-llama-cpp. */
export { RoutingDriver, type RoutingDriverOptions, type RouteOptions, type RouterTimeouts } from './router.js';
export { canonicalStrategy, planRoute, strategyOrder, type RouteEntry, type RoutePlan, type SeedStrategy, type StrategyName } from './route.js';
export { DriverError, isSpillableKind, RETRYABLE_KINDS, SPILLABLE_KINDS } from './errors.js';
export { DeltaBatcher } from './delta-batcher.js';
export type { CircuitBreakerOptions } from './circuit-breaker.js';
export type { ConsentAsk, ConsentHook, EgressHandle, EgressRecord, EgressRecorder, EgressResult } from './egress.js';
export type { Deadlines } from './deadlines.js';
export type * from './types.js';
export { CAPABILITIES, PRIVACY_TIERS, ROUTING_STRATEGIES, messageText, requestNeeds } from './types.js';
