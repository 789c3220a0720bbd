import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { compileModule } from 'svelte/compiler';

export async function load(url, context, nextLoad) {
  if (!/\.svelte\.(ts|js)$/.test(new URL(url).pathname)) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  const source = await readFile(filename, 'utf8');
  const js = url.endsWith('.ts') ? (await transform(source, { loader: 'ts', format: 'esm', target: 'es2022' })).code : source;
  const compiled = compileModule(js, { filename, generate: 'client', dev: false });
  return { format: 'module', source: compiled.js.code, shortCircuit: true };
}
