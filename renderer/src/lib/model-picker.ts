/**
 * The chat header's model picker: the local models (the Models view's list) and the endpoints of the
 * route, which one answers next, and what choosing one does (pin this conversation to that entry).
 */
import type { ConversationPin, LocalModel, RouterState } from '../../../electron/contract/index.js';

export interface PickerOption {
  /** '' follows the route; `local:<path>` a local model; `entry:<id>` an endpoint. */
  value: string;
  label: string;
  disabled: boolean;
}

export interface PickerGroups {
  automatic: PickerOption;
  local: PickerOption[];
  endpoints: PickerOption[];
  /** The option chosen for this conversation. */
  value: string;
}

/** What the picker offers under a conversation's route (`state`, with its pin) and the local models. */
export function pickerGroups(state: RouterState | null, models: readonly LocalModel[], pin: ConversationPin | null): PickerGroups {
  const next = state?.route.find((e) => e.id === state.next) ?? null;
  const pinned = pin?.entryId !== undefined;
  const answersNext = (id: string): string => (state?.next === id ? ' — answers next' : '');
  const automatic: PickerOption = {
    value: '',
    label: pinned ? 'Automatic (follow the route)' : next ? `Automatic: ${next.name} · ${next.model}` : 'Automatic: nothing can answer',
    disabled: false,
  };
  const active = models.find((m) => m.active);
  const local = models
    .filter((m) => m.error === null)
    .map((m) => ({ value: `local:${m.path}`, label: `${m.inspection?.name ?? m.fileName}${m.active ? `${answersNext('local')}` : ' (loads it)'}`, disabled: false }));
  const endpoints = (state?.route ?? [])
    .filter((e) => e.kind === 'remote')
    .map((e) => ({
      value: `entry:${e.id}`,
      label: `${e.name} · ${e.model}${e.excluded === 'ceiling' ? ' (beyond the ceiling)' : answersNext(e.id)}`,
      disabled: e.excluded === 'ceiling',
    }));
  // A pin to an entry that is gone (removed, or from an imported conversation) still shows as chosen.
  if (pin?.entryId !== undefined && pin.entryId !== 'local' && !endpoints.some((o) => o.value === `entry:${pin.entryId}`)) {
    endpoints.push({ value: `entry:${pin.entryId}`, label: `${pin.entryId} (no longer configured)`, disabled: true });
  }
  let value = '';
  if (pin?.entryId === 'local') value = active ? `local:${active.path}` : '';
  else if (pin?.entryId !== undefined) value = `entry:${pin.entryId}`;
  return { automatic, local, endpoints, value };
}

/** What a picker value asks for: follow the route, an endpoint, or a local model (loaded if it is not). */
export function parsePick(value: string): { kind: 'automatic' } | { kind: 'entry'; id: string } | { kind: 'local'; path: string } {
  if (value.startsWith('entry:')) return { kind: 'entry', id: value.slice('entry:'.length) };
  if (value.startsWith('local:')) return { kind: 'local', path: value.slice('local:'.length) };
  return { kind: 'automatic' };
}
