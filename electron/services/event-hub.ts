import type { EventListener, EventName, Events } from '../contract/index.js';

export type AnyEventListener = <E extends EventName>(event: E, payload: Events[E]) => void;

/** Fans service events out: typed by name to the services and CLI, all of them to the adapters (IPC, SSE). */
export class EventHub {
  private readonly named = new Map<EventName, Set<(payload: never) => void>>();
  private readonly any = new Set<AnyEventListener>();

  /** Subscribes to one event; the listener's payload is typed by the name. */
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void {
    let set = this.named.get(event);
    if (!set) this.named.set(event, (set = new Set()));
    const entry = listener as (payload: never) => void;
    set.add(entry);
    return () => set.delete(entry);
  }

  /** Subscribes to every event. */
  onAny(listener: AnyEventListener): () => void {
    this.any.add(listener);
    return () => this.any.delete(listener);
  }

  emit<E extends EventName>(event: E, payload: Events[E]): void {
    for (const listener of this.named.get(event) ?? []) this.deliver(() => (listener as EventListener<E>)(payload));
    for (const listener of this.any) this.deliver(() => listener(event, payload));
  }

  private deliver(call: () => void): void {
    try {
      call();
    } catch {
      // One broken subscriber (a closed window, a dropped socket) must not starve the others.
    }
  }
}
