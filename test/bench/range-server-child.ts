/**
 * The benchmark's file server, in its own process so that it never competes with the downloader for the
 * benchmark's event loop (curl runs in its own process too). Talks to the parent over IPC.
 */
import { randomFillSync } from 'node:crypto';
import { buildBigramModel } from '../fixtures/gguf-writer.js';
import { startRangeServer, type RangeFault } from '../fixtures/range-server.js';

type Command = { type: 'stats' } | { type: 'reset' } | { type: 'fail'; fault: RangeFault } | { type: 'close' };

const size = Number(process.argv[2] ?? 200_000_000);
const header = buildBigramModel();
const data = Buffer.allocUnsafe(size);
header.copy(data, 0);
// Random, not zeros: nothing along the way can compress or shortcut it.
for (let at = header.length; at < size; at += 16 * 1024 * 1024) randomFillSync(data, at, Math.min(16 * 1024 * 1024, size - at));

const server = await startRangeServer();
const hashed = server.addFile('/bench/model.gguf', data);
server.addFile('/bench/unhashed.gguf', data, { linked: false });

process.on('message', (command: Command) => {
  if (command.type === 'stats') process.send!({ type: 'stats', bytesSent: server.bytesSent(), requests: server.fileRequests().map((r) => ({ range: r.range, bytesSent: r.bytesSent, status: r.status })) });
  if (command.type === 'reset') server.reset();
  if (command.type === 'fail') server.failNext(command.fault);
  if (command.type === 'close') void server.close().then(() => process.exit(0));
});
process.send!({ type: 'ready', origin: server.origin, size, sha256: hashed.sha256 });
