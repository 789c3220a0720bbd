/** When to apply batched stream text: once per animation frame in a window, injectable for tests. */
export type Scheduler = (callback: () => void) => void;

const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => number }).requestAnimationFrame;

export const frameScheduler: Scheduler = (callback) => {
  if (raf) raf.call(globalThis, () => callback());
  else setTimeout(callback, 16);
};
