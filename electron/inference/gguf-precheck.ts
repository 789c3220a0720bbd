/**
 * The checks of a GGUF file that need no llama.cpp: it exists, starts with the magic, and its header's
 * counts and lengths fit its size (gguf-bounds.ts). Bounded by the file's real header bytes and free of
 * node-llama-cpp, so the driver and the model service run it before any process parses the file: a hostile
 * header is refused in milliseconds and never reaches the inference host.
 */
import { open, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DriverError } from '../core/errors.js';
import { checkGgufBounds, GgufBoundsError } from './gguf-bounds.js';

/** Throws a DriverError naming the problem; resolves with the file's size. */
export async function precheckGguf(path: string): Promise<number> {
  let size: number;
  try {
    const stats = await stat(path);
    if (!stats.isFile()) throw new DriverError('model_not_found', `The model path is not a file: ${path}`);
    size = stats.size;
  } catch (error) {
    if (error instanceof DriverError) throw error;
    throw new DriverError('model_not_found', `The model file does not exist: ${path}`, { cause: error });
  }
  const magic = Buffer.alloc(4);
  const handle = await open(path, 'r');
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (magic.toString('latin1') !== 'GGUF') {
    throw new DriverError('inference_failed', `Not a GGUF model file (it does not start with "GGUF"): ${path}`);
  }
  // node-llama-cpp's reader trusts the header's counts; nothing reaches it before they are checked.
  for (const part of splitParts(path)) {
    try {
      await checkGgufBounds(part);
    } catch (error) {
      if (error instanceof GgufBoundsError) {
        throw new DriverError('inference_failed', `The GGUF file is damaged or hostile and was not read: ${error.message}.`, { cause: error });
      }
      // A missing later part is node-llama-cpp's to report, with the part's name.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && part !== path) continue;
      throw error;
    }
  }
  return size;
}

const SPLIT_PART = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The file, or every part of a split model it is the first of (node-llama-cpp reads them all). */
function splitParts(path: string): string[] {
  const match = SPLIT_PART.exec(basename(path));
  if (!match) return [path];
  const stem = basename(path).slice(0, -match[0].length);
  return Array.from({ length: Number(match[2]) }, (_, i) => join(dirname(path), `${stem}-${String(i + 1).padStart(5, '0')}-of-${match[2]}.gguf`));
}
