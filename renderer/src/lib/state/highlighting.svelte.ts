/**
 * The syntax highlighter, loaded the first time an answer has a code block (a dynamic import: its own
 * chunk), so the first paint never waits for it. Until it is ready, code shows as plain text.
 */
import type { Highlighter } from '../markdown.js';

export class HighlightingState {
  highlighter = $state.raw<Highlighter | null>(null);
  private loading: Promise<void> | null = null;

  constructor(private readonly load: () => Promise<Highlighter> = () => import('../highlight.js').then((m) => m.highlight)) {}

  /** Starts loading once; a failed load is tried again at the next request. */
  request(): void {
    this.loading ??= this.load().then(
      (highlighter) => {
        this.highlighter = highlighter;
      },
      () => {
        this.loading = null;
      },
    );
  }
}
