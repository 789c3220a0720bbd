/**
 * Coalesces streamed text so a model producing a thousand tokens a second does not send a thousand
 * messages a second across a process or network boundary. The first piece goes out at once (time to
 * first token is what people feel); later pieces are gathered for `intervalMs`.
 */
export class DeltaBatcher {
  private pending = '';
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sentAny = false;

  constructor(
    private readonly emit: (text: string) => void,
    private readonly intervalMs = 8,
  ) {}

  /** Queues a piece of text for sending. */
  push(text: string): void {
    if (text === '') return;
    if (!this.sentAny) {
      this.sentAny = true;
      this.emit(text);
      return;
    }
    this.pending += text;
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Sends whatever is pending now; call before reporting the end of a stream. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.emit(text);
  }
}
