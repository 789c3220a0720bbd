// Resolve hook for tests of Electron main's entry point: `import … from 'electron'` gets the recording fake
// in test/fixtures/fake-electron.ts instead of the package (which, without its binary, only throws).
const FAKE = new URL('../fixtures/fake-electron.ts', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'electron') return { url: FAKE, shortCircuit: true };
  return nextResolve(specifier, context);
}
