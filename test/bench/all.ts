/**
 * `npm run bench -- [flags]`: the stack benchmark (bench.ts), the parallel engine (engine.ts) and the server
 * (server.ts), each with the given flags, then the download benchmark with its defaults. Each runs in its
 * own process, so one's memory never weighs on the other.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const run = (script: string, args: string[]): number => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: 'inherit' });
  return result.status ?? 1;
};
const flags = process.argv.slice(2);
const status = run('./bench.ts', flags) || run('./engine.ts', flags) || run('./server.ts', flags) || run('./download.ts', []);
process.exit(status);
