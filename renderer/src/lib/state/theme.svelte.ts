/** Light, dark, or as the system says; remembered in this window's storage (a display choice, not a setting). */

export type Theme = 'system' | 'light' | 'dark';
export const THEMES: readonly Theme[] = ['system', 'light', 'dark'];

const KEY = 'spillway.theme';

export class ThemeState {
  theme = $state<Theme>('system');

  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | null = globalThis.localStorage ?? null,
    private readonly root: HTMLElement | null = globalThis.document?.documentElement ?? null,
  ) {
    const stored = storage?.getItem(KEY);
    this.apply(THEMES.includes(stored as Theme) ? (stored as Theme) : 'system');
  }

  set(theme: Theme): void {
    this.storage?.setItem(KEY, theme);
    this.apply(theme);
  }

  private apply(theme: Theme): void {
    this.theme = theme;
    // app.css picks its colours from color-scheme: light, dark, or both (the system's).
    if (theme === 'system') this.root?.removeAttribute('data-theme');
    else this.root?.setAttribute('data-theme', theme);
  }
}
