/**
 * Stop texts over streamed text, for the generation loops that find them in the text itself: the one that
 * reports log probabilities and legacy completions (LlamaChat does this itself for ordinary generation). Text that could still become a stop text is held back, so no part
 * of a stop text ever reaches the client, even when it arrives split across tokens.
 */
export class StopTextScanner {
  private pending = '';
  private stoppedAt = false;

  private readonly stops: readonly string[];

  /** An empty stop text stops nothing. */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop !== '');
  }

  /** True once a stop text was seen: the caller ends the generation. */
  get stopped(): boolean {
    return this.stoppedAt;
  }

  /** Takes the next piece of text; returns the part that can be released now. */
  push(text: string): string {
    if (this.stoppedAt) return '';
    this.pending += text;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.stoppedAt = true;
      const released = this.pending.slice(0, cut);
      this.pending = '';
      return released;
    }
    const hold = this.heldLength();
    const released = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return released;
  }

  /** The text held back at the end of generation (it never completed a stop text). */
  flush(): string {
    const rest = this.stoppedAt ? '' : this.pending;
    this.pending = '';
    return rest;
  }

  /** The longest end of the pending text that is the start of some stop text. */
  private heldLength(): number {
    let hold = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, this.pending.length); length > hold; length--) {
        if (this.pending.endsWith(stop.slice(0, length))) {
          hold = length;
          break;
        }
      }
    }
    return hold;
  }
}
