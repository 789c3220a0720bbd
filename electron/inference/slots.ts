/**
 * The context's sequences and which request gets which. A sequence keeps the tokens it last evaluated,
 * and node-llama-cpp evaluates only what differs from them, so the choice decides how much of a prompt is
 * already in the KV cache:
 *
 * 1. The idle sequence that holds the request's conversation (its affinity key).
 * 2. The conversation's state saved on disk, when it covers more than any idle sequence shares: it is
 *    loaded into the least recently used idle sequence.
 * 3. The idle sequence sharing a prefix with the prompt (a common system prompt on /v1) when that saves
 *    more than it loses of the prompt the sequence holds.
 * 4. An empty sequence, else the least recently used one.
 *
 * A sequence given to another conversation is evicted first: its state is saved to disk under its key.
 */
import { DriverError } from '../core/errors.js';
import type { StateCache } from './state-cache.js';

/** A shared prefix shorter than this is only the chat template's opening, not worth another conversation's place. */
export const MIN_SHARED_PREFIX = 16;
/**
 * What a token of another prompt, lost by reusing its sequence, counts against a token saved: a sequence
 * sharing only "You are" with a long prompt is not worth it, one sharing all but the last question is.
 */
const LOST_TOKEN_WEIGHT = 0.5;

/** What a slot needs from node-llama-cpp's LlamaContextSequence. */
export interface SlotSequence {
  readonly contextTokens: readonly number[];
  saveStateToFile(path: string): Promise<{ fileSize: number }>;
  loadStateFromFile(path: string, risk: { acceptRisk: true }): Promise<void>;
  clearHistory(): Promise<void>;
}

export interface Slot<S extends SlotSequence, C> {
  readonly index: number;
  readonly sequence: S;
  /** The chat driving this sequence. */
  readonly chat: C;
  /** The conversation whose prompt the sequence holds; null for an anonymous (/v1) prompt. */
  key: string | null;
  lastUsed: number;
  busy: boolean;
  /** Its conversation was deleted while it was answering: cleared when released. */
  forgetOnRelease: boolean;
}

/** How a request got its sequence, for the usage figures and tests. */
export type CacheSource = 'sequence' | 'disk' | 'none';

export class SlotPool<S extends SlotSequence, C> {
  private clock = 0;

  constructor(
    readonly slots: ReadonlyArray<Slot<S, C>>,
    private readonly cache: StateCache | null,
  ) {}

  /** Sequences answering now. */
  busyCount(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** Picks (and marks busy) the sequence for a request; see the rules above. */
  async acquire(key: string | undefined, prompt: readonly number[]): Promise<{ slot: Slot<S, C>; source: CacheSource }> {
    const idle = this.slots.filter((s) => !s.busy);
    if (idle.length === 0) throw new DriverError('rate_limited', `All ${this.slots.length} sequences of the local model are busy.`);
    const take = (slot: Slot<S, C>): Slot<S, C> => {
      slot.busy = true;
      slot.lastUsed = ++this.clock;
      return slot;
    };
    if (key !== undefined) {
      const own = idle.find((s) => s.key === key);
      if (own) return { slot: take(own), source: 'sequence' };
    }
    // The sequence worth most: the prefix it saves, less half of what of another prompt it would lose.
    let best: Slot<S, C> | null = null;
    let shared = 0;
    let bestScore = 0;
    for (const slot of idle) {
      const length = commonPrefixLength(slot.sequence.contextTokens, prompt);
      const score = length - (slot.sequence.contextTokens.length - length) * LOST_TOKEN_WEIGHT;
      if (length >= MIN_SHARED_PREFIX && score > bestScore) [best, shared, bestScore] = [slot, length, score];
    }
    const saved = key !== undefined && this.cache ? this.cache.tokens(key) : 0;
    // Claimed before any await, so a concurrent request never picks the same sequence.
    if (saved > shared && saved >= MIN_SHARED_PREFIX) {
      const slot = take(this.victim(idle));
      await this.evict(slot);
      slot.key = key ?? null;
      if (await this.cache!.restore(key!, slot.sequence)) return { slot, source: 'disk' };
      return { slot, source: 'none' };
    }
    const slot = take(best ?? this.victim(idle));
    if (slot.key !== (key ?? null)) await this.evict(slot);
    slot.key = key ?? null;
    return { slot, source: best ? 'sequence' : 'none' };
  }

  /** Marks a sequence idle again; one whose conversation was deleted meanwhile is cleared. */
  async release(slot: Slot<S, C>): Promise<void> {
    if (slot.forgetOnRelease) {
      slot.forgetOnRelease = false;
      slot.key = null;
      await slot.sequence.clearHistory().catch(() => {});
    }
    slot.busy = false;
  }

  /** Drops a conversation: its saved state, and its tokens from an idle sequence. */
  async forget(key: string): Promise<void> {
    for (const slot of this.slots) {
      if (slot.key !== key) continue;
      if (slot.busy) slot.forgetOnRelease = true;
      else {
        slot.key = null;
        await slot.sequence.clearHistory().catch(() => {});
      }
    }
    await this.cache?.drop(key);
  }

  /** An empty idle sequence, else the least recently used idle one. */
  private victim(idle: ReadonlyArray<Slot<S, C>>): Slot<S, C> {
    const empty = idle.find((s) => s.sequence.contextTokens.length === 0);
    if (empty) return empty;
    return idle.reduce((oldest, s) => (s.lastUsed < oldest.lastUsed ? s : oldest));
  }

  /** Saves a conversation's state before its sequence is reused; an anonymous prompt is not kept. */
  private async evict(slot: Slot<S, C>): Promise<void> {
    if (slot.key !== null && this.cache && slot.sequence.contextTokens.length >= MIN_SHARED_PREFIX) {
      await this.cache.save(slot.key, slot.sequence);
    }
  }
}

export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
