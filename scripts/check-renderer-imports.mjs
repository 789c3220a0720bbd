#!/usr/bin/env node
/**
 * The renderer may reach main-side code only through the contract. dependency-cruiser checks .ts files
 * (type imports included) but reads a .svelte file only after TypeScript has stripped its type imports, so
 * this checks every import specifier in the renderer's .svelte files itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const contract = join(root, 'electron', 'contract');
const electron = join(root, 'electron');
const IMPORT = /\bimport\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]/g;

const failures = [];
for (const entry of readdirSync(join(root, 'renderer', 'src'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.svelte')) continue;
  const file = join(entry.parentPath, entry.name);
  for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    if (!specifier.startsWith('.')) continue;
    const target = resolve(dirname(file), specifier);
    if (target.startsWith(electron + '/') && !target.startsWith(contract + '/')) {
      failures.push(`${relative(root, file)} imports ${specifier}: the renderer may import only electron/contract`);
    }
  }
}
if (failures.length > 0) {
  for (const failure of failures) process.stderr.write(`error renderer-sees-only-the-contract: ${failure}\n`);
  process.exit(1);
}
process.stdout.write('renderer .svelte imports: only the contract\n');
