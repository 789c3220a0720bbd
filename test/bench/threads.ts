/**
 * `npm run bench:threads`: where more generation threads start to pay off on this machine. Generates
 * Llama models of growing size (same arithmetic as real ones) and times each thread count on each, next to
 * the count Spillway picks by default.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { getLlama, LlamaChat, LlamaLogLevel } from 'node-llama-cpp';
import { defaultThreadCount } from '../../electron/inference/threads.js';
import { writeBigramModel } from '../fixtures/gguf-writer.js';
import { makeFixtureModels } from '../fixtures/models.js';

const fixtures = makeFixtureModels();
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const logical = availableParallelism();
const counts = [...new Set([1, 2, logical])].filter((n) => n <= logical);
console.log(`cores: ${logical} logical, ${llama.cpuMathCores} for math; thread counts tried: ${counts.join(', ')}`);
console.log('model MiB   ' + counts.map((n) => `${n} thr tok/s`.padStart(14)).join('') + '   best   Spillway default');

for (const layers of [1, 3, 5, 10, 20]) {
  const path = writeBigramModel(join(fixtures.dir, `heavy-${layers}.gguf`), {
    words: ['tick', 'tock'], loop: true, embeddingLength: 1024, feedForwardLength: 2816, layers, contextLength: 1024,
  });
  const bytes = statSync(path).size;
  const model = await llama.loadModel({ modelPath: path });
  const rates: number[] = [];
  for (const threads of counts) {
    const context = await model.createContext({ contextSize: 512, threads });
    const chat = new LlamaChat({ contextSequence: context.getSequence() });
    const list: number[] = [];
    for (let r = 0; r < 3; r++) {
      const started = performance.now();
      let tokens = 0;
      await chat.generateResponse([{ type: 'user', text: 'Go' }, { type: 'model', response: [] }], {
        maxTokens: 200, temperature: 0, signal: AbortSignal.timeout(4000), stopOnAbortSignal: true,
        onToken: (t) => { tokens += t.length; },
      });
      if (r > 0) list.push((tokens * 1000) / (performance.now() - started));
    }
    rates.push(Math.max(...list));
    await context.dispose();
  }
  await model.dispose();
  const best = counts[rates.indexOf(Math.max(...rates))]!;
  const chosen = defaultThreadCount({ modelBytes: bytes, mathCores: llama.cpuMathCores, logicalCores: logical });
  const ours = rates[counts.indexOf(chosen)] ?? NaN;
  console.log(
    `${(bytes / 2 ** 20).toFixed(0).padStart(9)}   ` + rates.map((r) => r.toFixed(1).padStart(14)).join('') +
      `   ${String(best).padStart(4)}   ${chosen} (${((ours / Math.max(...rates)) * 100).toFixed(0)} % of best)`,
  );
}
fixtures.cleanup();
process.exit(0);
