/**
 * The router's two privacy hooks, implemented by the services: the record of every request that leaves
 * this machine (written durably before it is sent), and the person's consent before it leaves.
 */
import type { ConsentChoice, EgressOutcome, EgressWhy } from '../contract/index.js';
import type { DriverErrorData, DriverErrorKind, PrivacyTier } from './types.js';

/** A request about to be sent to an entry that is not on this machine. */
export interface EgressRecord {
  entryId: string;
  /** The entry's name for people, as it was when the request was sent. */
  entryName: string;
  host: string;
  model: string;
  tier: PrivacyTier;
  why: EgressWhy;
  /** For spillovers: the kind of failure of the entry before. */
  after?: DriverErrorKind;
  bytesSent: number;
  /** Counted locally before sending, when the route had a local tokenizer; else null. */
  promptTokens: number | null;
  /** The conversation, or undefined for the OpenAI-compatible API. */
  conversationId?: string;
}

export interface EgressResult {
  outcome: Exclude<EgressOutcome, 'in-flight' | 'interrupted'>;
  promptTokens: number | null;
  tokensReceived: number | null;
  errorKind?: DriverErrorKind;
}

/** An open record, completed once the endpoint has answered or failed. */
export interface EgressHandle {
  end(result: EgressResult): void;
}

export interface EgressRecorder {
  /** Records the request durably before it is sent; a rejection stops the send (fail closed). */
  begin(record: EgressRecord): Promise<EgressHandle>;
}

/** What the person is asked before a request leaves this machine. */
export interface ConsentAsk {
  entryId: string;
  name: string;
  host: string;
  model: string;
  tier: PrivacyTier;
  why: EgressWhy;
  after?: DriverErrorData;
}

/** Resolves with the person's choice; the wait counts against no deadline. */
export type ConsentHook = (ask: ConsentAsk, signal: AbortSignal | undefined) => Promise<ConsentChoice>;
