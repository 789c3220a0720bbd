/**
 * The keyboard shortcuts, in one list: the help panel shows it and the window's key handler reads it.
 * Chosen among keys a browser lets a page have (Ctrl+N or Ctrl+T never reach one), as chat apps use them.
 */

export type ShortcutAction = 'new-conversation' | 'search' | 'focus-composer' | 'stop' | 'help';

/** The subset of a KeyboardEvent a shortcut is matched on. */
export type KeyPress = Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey'>;

interface Shortcut {
  action: ShortcutAction | null;
  /** Keys as shown, `Mod` for Ctrl (⌘ on macOS). */
  keys: string[];
  description: string;
  matches?: (press: KeyPress, mod: boolean) => boolean;
}

const SHORTCUTS: Shortcut[] = [
  { action: 'new-conversation', keys: ['Mod', 'Shift', 'O'], description: 'New conversation', matches: (p, mod) => mod && p.shiftKey && p.key.toLowerCase() === 'o' },
  { action: 'search', keys: ['Mod', 'K'], description: 'Search conversations', matches: (p, mod) => mod && !p.shiftKey && p.key.toLowerCase() === 'k' },
  { action: 'focus-composer', keys: ['Shift', 'Esc'], description: 'Focus the message box', matches: (p, mod) => !mod && p.shiftKey && p.key === 'Escape' },
  { action: 'stop', keys: ['Esc'], description: 'Stop the answer being written', matches: (p, mod) => !mod && !p.shiftKey && p.key === 'Escape' },
  { action: 'help', keys: ['Mod', '/'], description: 'Show these shortcuts', matches: (p, mod) => mod && p.key === '/' },
  { action: null, keys: ['Enter'], description: 'Send the message (in the message box)' },
  { action: null, keys: ['Shift', 'Enter'], description: 'New line (in the message box)' },
];

/** Whether this is a Mac, where Mod is ⌘. */
export function isMac(platform: string = globalThis.navigator?.platform ?? ''): boolean {
  return /mac|iphone|ipad/i.test(platform);
}

/** The action a key press asks for, or null. */
export function shortcutFor(press: KeyPress, mac = isMac()): ShortcutAction | null {
  if (press.altKey) return null;
  const mod = mac ? press.metaKey && !press.ctrlKey : press.ctrlKey && !press.metaKey;
  return SHORTCUTS.find((s) => s.action !== null && s.matches?.(press, mod))?.action ?? null;
}

/** The shortcuts as the help panel lists them, with this platform's key names. */
export function shortcutList(mac = isMac()): { keys: string[]; description: string }[] {
  return SHORTCUTS.map((s) => ({ keys: s.keys.map((k) => (k === 'Mod' ? (mac ? '⌘' : 'Ctrl') : k)), description: s.description }));
}
