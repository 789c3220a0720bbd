/**
 * `npm run bench:ttft`: only the time-to-first-token part of the engine benchmark, quicker to repeat.
 * Per run, interleaved: one client, then 4 at once, then 4 each sent when the one before has streamed its first
 * text (a request arriving while the others generate), through the local driver (host process), then the same on node-llama-cpp in-process
 * with 4 sequences. Flags as for `npm run bench` (--model, --runs).
 */
import { LlamaChat } from 'node-llama-cpp';
import { LocalDriver } from '../../electron/drivers/local-driver.js';
import { makeFixtureModels } from '../fixtures/models.js';
import { benchArgs, engineBenchModel, fmt, loadBenchModel, percentile } from './common.js';

const args = benchArgs();
const fixtures = makeFixtureModels();
const modelPath = engineBenchModel(args.model, fixtures.dir);
const runs = Number(args.runs);
const maxTokens = 200;
const question = (run: number, client: number): string => `Run ${run}, client ${client}: once upon a time there was a ship on the sea.`;

const { model, threads, contextSize } = await loadBenchModel(modelPath);
const local = new LocalDriver({ modelPath, threads, contextSize, gpu: 'auto', parallel: 4 });
await local.load();
const context = await model.createContext({ contextSize, threads, sequences: 4 });
const chats = [0, 1, 2, 3].map(() => new LlamaChat({ contextSequence: context.getSequence() }));
const first = async (chat: LlamaChat, text: string, onFirst?: () => void): Promise<number> => {
  const started = performance.now();
  let at = 0;
  await chat.generateResponse([{ type: 'user', text }, { type: 'model', response: [] }], {
    maxTokens, temperature: 0, onTextChunk: () => {
      if (at === 0) onFirst?.();
      at ||= performance.now();
    },
  });
  return at - started;
};
const viaDriver = async (run: number, client: number, onFirst?: () => void): Promise<number> => {
  let streamed = false;
  const onText = (): void => {
    if (!streamed) onFirst?.();
    streamed = true;
  };
  return (await local.complete({ messages: [{ role: 'user', content: question(run, client) }], maxTokens, temperature: 0, onText })).timings.timeToFirstTokenMs ?? NaN;
};

/** Four requests made by `start`, each once the one before has streamed its first text. */
const staggered = async (start: (i: number, onFirst: () => void) => Promise<number>): Promise<number[]> => {
  const late: Array<Promise<number>> = [];
  for (const i of [0, 1, 2, 3]) {
    await new Promise<void>((resolve) => late.push(start(i, resolve)));
  }
  return Promise.all(late);
};
const driver = { single: [] as number[], four: [] as number[], staggered: [] as number[] };
const inProcess = { single: [] as number[], four: [] as number[], staggered: [] as number[] };
for (let r = 0; r <= runs; r++) {
  const d1 = await viaDriver(r, 0);
  const d4 = await Promise.all([0, 1, 2, 3].map((i) => viaDriver(500 + r, i)));
  const ds = await staggered((i, onFirst) => viaDriver(700 + r, i, onFirst));
  const p1 = await first(chats[0]!, question(1000 + r, 0));
  const p4 = await Promise.all(chats.map((chat, i) => first(chat, question(1500 + r, i))));
  const ps = await staggered((i, onFirst) => first(chats[i]!, question(1700 + r, i), onFirst));
  if (r === 0) continue;
  driver.single.push(d1);
  driver.four.push(...d4);
  driver.staggered.push(...ds);
  inProcess.single.push(p1);
  inProcess.four.push(...p4);
  inProcess.staggered.push(...ps);
}
const line = (label: string, xs: { single: number[]; four: number[]; staggered: number[] }): string => {
  const p = (v: number[], q: number): string => fmt(percentile(v, q), 1);
  const ratio = (v: number[]): string => `${fmt(percentile(v, 0.95) / percentile(xs.single, 0.95), 2)}x`;
  return `${label.padEnd(20)} 1 client p50/p95 ${p(xs.single, 0.5)}/${p(xs.single, 0.95)} ms;`
    + ` 4 at once ${p(xs.four, 0.5)}/${p(xs.four, 0.95)} ms (p95 ${ratio(xs.four)});`
    + ` 4 arriving while others generate ${p(xs.staggered, 0.5)}/${p(xs.staggered, 0.95)} ms (p95 ${ratio(xs.staggered)})`;
};
console.log(`time to first token (model ${modelPath}; threads ${threads}; ${runs} interleaved runs)`);
console.log(line('local driver (host)', driver));
console.log(line('in-process', inProcess));
await local.dispose();
await context.dispose();
await model.dispose();
fixtures.cleanup();
process.exit(0);
