/**
 * The model picker in the chat header: what it offers (lib/model-picker.ts) under the active conversation's
 * route, and choosing: an endpoint or a local model pins the conversation to that entry; a local model that
 * is not loaded becomes the local engine's first (one local model runs at a time).
 */
import type { AppError } from '../../../../electron/contract/index.js';
import { parsePick, pickerGroups, type PickerGroups } from '../model-picker.js';
import type { ModelsState } from './models.svelte.js';
import type { PinState } from './pin.svelte.js';

export class ModelPickerState {
  /** True while a chosen local model is being made the engine's. */
  switching = $state(false);
  /** Why the chosen local model could not be loaded. */
  error = $state<AppError | null>(null);

  constructor(
    private readonly pin: PinState,
    private readonly models: ModelsState,
  ) {}

  /** The options and the one chosen, as they are now. */
  get groups(): PickerGroups {
    return pickerGroups(this.pin.state, this.models.models, this.pin.pin);
  }

  async choose(value: string): Promise<void> {
    const pick = parsePick(value);
    this.error = null;
    if (pick.kind === 'automatic') return this.pin.setEntry(null);
    if (pick.kind === 'entry') return this.pin.setEntry(pick.id);
    if (!this.models.models.some((m) => m.path === pick.path && m.active)) {
      this.switching = true;
      const loaded = await this.models.setActive(pick.path);
      this.switching = false;
      if (!loaded) {
        this.error = this.models.error;
        return;
      }
    }
    await this.pin.setEntry('local');
  }
}
