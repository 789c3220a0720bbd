// The preload runs in a sandboxed renderer, where only CommonJS with `require('electron')` works:
// bundle it (and the contract constants it uses) into one .cjs file.
import { build } from 'esbuild';

await build({
  entryPoints: ['electron/preload/index.ts'],
  outfile: 'dist/electron/preload/index.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['electron'],
  sourcemap: true,
  logLevel: 'warning',
});
