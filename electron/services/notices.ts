/** Things the person should be told once (a corrupt file set aside, a key that could not be read). */
import { randomUUID } from 'node:crypto';
import type { Notice } from '../contract/index.js';
import type { EventHub } from './event-hub.js';

export class NoticeBoard {
  private readonly notices: Notice[] = [];

  constructor(private readonly events: EventHub) {}

  /** Adds a notice and pushes it to open windows. */
  notify(level: Notice['level'], message: string): void {
    const notice: Notice = { id: randomUUID(), level, message, at: Date.now() };
    this.notices.push(notice);
    this.events.emit('notice', notice);
  }

  list(): Notice[] {
    return [...this.notices];
  }
}
