/**
 * A structural walk of a GGUF header that trusts no count or length in it. node-llama-cpp's reader loops
 * over the counts the header claims and allocates as it goes, so 88 bytes claiming 2^63 metadata entries
 * keep it busy forever while memory grows. Here every count and length is checked against the bytes left in
 * the file before it is used, so the walk costs at most one pass over the header the file really has, with
 * a fixed-size buffer. Only a file that passes is handed to node-llama-cpp.
 *
 * Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic, version, tensor count, metadata
 * count, the metadata entries (key, type, value), then one info per tensor (name, dimensions, type, offset).
 */
import { open, type FileHandle } from 'node:fs/promises';

const BUFFER_BYTES = 1 << 20;
/** llama.cpp's GGML_MAX_DIMS. */
const MAX_DIMS = 4;
/** Arrays of arrays are legal GGUF; deeper nesting than this is not used by any model and is refused. */
const MAX_ARRAY_DEPTH = 2;

enum ValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

const FIXED_SIZE: Partial<Record<ValueType, number>> = {
  [ValueType.UINT8]: 1, [ValueType.INT8]: 1, [ValueType.BOOL]: 1,
  [ValueType.UINT16]: 2, [ValueType.INT16]: 2,
  [ValueType.UINT32]: 4, [ValueType.INT32]: 4, [ValueType.FLOAT32]: 4,
  [ValueType.UINT64]: 8, [ValueType.INT64]: 8, [ValueType.FLOAT64]: 8,
};

/** The fewest bytes one value of a type can take: what a claimed count is divided into. */
function minimumSize(type: ValueType): number {
  if (type === ValueType.STRING) return 8;
  if (type === ValueType.ARRAY) return 12;
  return FIXED_SIZE[type]!;
}

/** The fewest bytes of one metadata entry (key length, one-byte key, type, one-byte value) and of one tensor info. */
const MIN_ENTRY_BYTES = 8 + 1 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8;

/** Why a header was refused; the message names the field. */
export class GgufBoundsError extends Error {
  override name = 'GgufBoundsError';
}

export interface GgufHeaderSummary {
  version: number;
  tensorCount: number;
  metadataCount: number;
  /** Where the tensor infos end (before alignment padding). */
  headerBytes: number;
}

/** Reads forward through a file with one fixed buffer; never past the end. */
class Cursor {
  private readonly buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private start = 0;
  private end = 0;
  position = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  get left(): number {
    return this.size - this.position;
  }

  private async need(bytes: number, what: string): Promise<void> {
    if (bytes > this.left) throw new GgufBoundsError(`${what} runs past the end of the file (${this.size} bytes)`);
    if (this.position >= this.start && this.position + bytes <= this.end) return;
    const { bytesRead } = await this.file.read(this.buffer, 0, BUFFER_BYTES, this.position);
    this.start = this.position;
    this.end = this.position + bytesRead;
    if (this.position + bytes > this.end) throw new GgufBoundsError(`${what} could not be read`);
  }

  async u32(what: string): Promise<number> {
    await this.need(4, what);
    const value = this.buffer.readUInt32LE(this.position - this.start);
    this.position += 4;
    return value;
  }

  /** A 64-bit count; beyond 2^53 it is certainly more than any file holds, and is reported as such. */
  async u64(what: string): Promise<number> {
    await this.need(8, what);
    const value = this.buffer.readBigUInt64LE(this.position - this.start);
    this.position += 8;
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(value);
  }

  skip(bytes: number, what: string): void {
    if (bytes > this.left) throw new GgufBoundsError(`${what} (${describe(bytes)} bytes) runs past the end of the file (${this.left} bytes left)`);
    this.position += bytes;
  }

  /** Skips a string after checking its claimed length against the bytes left. */
  async string(what: string): Promise<void> {
    const length = await this.u64(`the length of ${what}`);
    this.skip(length, what);
  }
}

function describe(count: number): string {
  return Number.isFinite(count) ? String(count) : 'more than 2^53';
}

/** Checks a count against the bytes left, given the fewest bytes each item can take. */
function bounded(count: number, each: number, left: number, what: string): number {
  if (!Number.isFinite(count) || count * each > left) {
    throw new GgufBoundsError(`the header claims ${describe(count)} ${what}, but the ${left} bytes left could hold at most ${Math.floor(left / each)}`);
  }
  return count;
}

async function skipValue(cursor: Cursor, type: number, what: string, depth: number): Promise<void> {
  if (!(type in ValueType)) throw new GgufBoundsError(`${what} has an unknown value type ${type}`);
  const fixed = FIXED_SIZE[type as ValueType];
  if (fixed !== undefined) return cursor.skip(fixed, what);
  if (type === ValueType.STRING) return cursor.string(what);
  if (depth >= MAX_ARRAY_DEPTH) throw new GgufBoundsError(`${what} nests arrays deeper than ${MAX_ARRAY_DEPTH}`);
  const elementType = await cursor.u32(`the element type of ${what}`);
  if (!(elementType in ValueType)) throw new GgufBoundsError(`${what} has an unknown element type ${elementType}`);
  const count = bounded(await cursor.u64(`the length of ${what}`), minimumSize(elementType), cursor.left, `elements in ${what}`);
  const elementSize = FIXED_SIZE[elementType as ValueType];
  if (elementSize !== undefined) return cursor.skip(count * elementSize, what);
  for (let i = 0; i < count; i++) await skipValue(cursor, elementType, what, depth + 1);
}

/**
 * Walks the header of a GGUF file (one part of a split model), refusing any count or length the file's
 * size cannot hold. Throws GgufBoundsError naming the first field that does not fit.
 */
export async function checkGgufBounds(path: string): Promise<GgufHeaderSummary> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const cursor = new Cursor(file, size);
    if (size < 24) throw new GgufBoundsError(`the file is ${size} bytes, too short for a GGUF header`);
    cursor.skip(4, 'the magic');
    const version = await cursor.u32('the version');
    if (version < 2 || version > 3) throw new GgufBoundsError(`GGUF version ${version} is not supported (only 2 and 3 are)`);
    const tensorCount = bounded(await cursor.u64('the tensor count'), MIN_TENSOR_INFO_BYTES, cursor.left - 8, 'tensors');
    const metadataCount = bounded(await cursor.u64('the metadata count'), MIN_ENTRY_BYTES, cursor.left - tensorCount * MIN_TENSOR_INFO_BYTES, 'metadata entries');
    for (let i = 0; i < metadataCount; i++) {
      await cursor.string(`metadata key ${i}`);
      const type = await cursor.u32(`the type of metadata entry ${i}`);
      await skipValue(cursor, type, `metadata entry ${i}`, 0);
    }
    for (let i = 0; i < tensorCount; i++) {
      await cursor.string(`the name of tensor ${i}`);
      const dims = await cursor.u32(`the dimension count of tensor ${i}`);
      if (dims < 1 || dims > MAX_DIMS) throw new GgufBoundsError(`tensor ${i} claims ${dims} dimensions (1 to ${MAX_DIMS} are possible)`);
      cursor.skip(dims * 8 + 4 + 8, `the shape, type and offset of tensor ${i}`);
    }
    return { version, tensorCount, metadataCount, headerBytes: cursor.position };
  } finally {
    await file.close();
  }
}
