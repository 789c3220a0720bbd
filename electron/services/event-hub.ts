import type { EventName, Events } from '../contract/index.js';

export type EventListener = <E extends EventName>(event: E, payload: Events[E]) => void;

/** Fans service events out to the adapters (IPC to windows, SSE to browsers). */
export class EventHub {
  private readonly listeners = new Set<EventListener>();

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, payload: Events[E]): void {
    for (const listener of this.listeners) {
      try {
        listener(event, payload);
      } catch {
        // One broken subscriber (a closed window, a dropped socket) must not starve the others.
      }
    }
  }
}
