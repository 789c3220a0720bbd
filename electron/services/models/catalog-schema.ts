/**
 * The curated catalog of recommended GGUF models (models/catalog.json): its schema, its types, and the
 * functions that read and check it. Every fact in the catalog was copied from a stored Hugging Face page
 * (listed in each entry's `sources`); a value that could not be sourced is left out, which is why
 * `sizeBytes` and `sha256` are optional. The downloader takes the missing ones from Hugging Face's response
 * headers (x-linked-size, x-linked-etag) at download time.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { CatalogEntry as ContractCatalogEntry } from '../../contract/index.js';
import { packageRoot } from '../paths.js';

/** kebab-case; a dot is allowed only before a digit, inside version numbers ("qwen2.5-1.5b-instruct"). */
const ID_RE = /^[a-z0-9]+(?:\.[0-9][a-z0-9]*)*(?:-[a-z0-9]+(?:\.[0-9][a-z0-9]*)*)*$/;
/** A Hugging Face model repository, "user/repo". */
const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** llama.cpp quantization names: Q4_K_M, Q8_0, IQ4_XS, Q4_0_4_8, F16, BF16, ... */
const QUANT_RE = /^(?:I?Q[1-8](?:_[A-Z0-9]+)*|F16|BF16|F32)$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

const fileName = z
  .string()
  .min(1)
  .max(300)
  .refine((name) => name.toLowerCase().endsWith('.gguf'), 'file name must end with .gguf')
  .refine(
    (name) => !name.startsWith('/') && !name.includes('\\') && !name.split('/').includes('..'),
    'file name must be a plain path inside the repository',
  );

const sizeBytes = z.number().int().positive();
const sha256 = z.string().regex(SHA256_RE, 'sha256 must be 64 lowercase hex characters');

/** One part of a model split into several files (…-00001-of-00002.gguf). */
export const catalogFilePartSchema = z.strictObject({
  file: fileName,
  sizeBytes: sizeBytes.optional(),
  sha256: sha256.optional(),
});

const fileCommon = {
  quantization: z.string().regex(QUANT_RE, 'quantization must be a llama.cpp type such as Q4_K_M or Q8_0'),
  /** RAM needed to run this file at a 4k context, in GB; how it was computed is in the catalog's notes. */
  ramGB: z.number().positive().max(1024),
};

/** A single-file download. */
export const catalogSingleFileSchema = z.strictObject({
  ...fileCommon,
  file: fileName,
  sizeBytes: sizeBytes.optional(),
  sha256: sha256.optional(),
});

/** A download split into parts, listed in order. */
export const catalogMultiPartFileSchema = z.strictObject({
  ...fileCommon,
  parts: z.array(catalogFilePartSchema).min(2, 'a multi-part file needs at least two parts'),
});

export const catalogFileSchema = z.union([catalogSingleFileSchema, catalogMultiPartFileSchema]);

export const catalogEntrySchema = z
  .strictObject({
    id: z.string().max(100).regex(ID_RE, 'id must be kebab-case (lowercase letters, digits, -)'),
    name: z.string().min(1).max(200),
    publisher: z.string().min(1).max(100),
    /** One sentence: what the model is good for. */
    description: z.string().min(1).max(500),
    repo: z.string().max(200).regex(REPO_RE, 'repo must be a Hugging Face "user/repo"'),
    license: z.string().min(1).max(100),
    parameters: z.string().regex(/^\d+(?:\.\d+)?[MB]$/, 'parameters must read like "0.5B" or "360M"'),
    parametersBillions: z.number().positive().max(10_000),
    contextLength: z.number().int().positive(),
    gated: z.boolean(),
    recommended: z.boolean().optional(),
    /** Why this entry is the first-run default; required on the recommended entry. */
    why: z.string().min(1).max(1000).optional(),
    files: z.array(catalogFileSchema).min(1, 'an entry needs at least one file'),
    sources: z.array(z.url()).min(1, 'an entry needs at least one source URL'),
  })
  .superRefine((entry, ctx) => {
    if (entry.recommended === true && !entry.why) {
      ctx.addIssue({ code: 'custom', message: 'the recommended entry must say why in "why"', path: ['why'] });
    }
    const names = new Set<string>();
    entry.files.forEach((file, index) => {
      const fileNames = 'parts' in file ? file.parts.map((part) => part.file) : [file.file];
      for (const name of fileNames) {
        if (names.has(name)) {
          ctx.addIssue({ code: 'custom', message: `duplicate file name "${name}"`, path: ['files', index] });
        }
        names.add(name);
      }
    });
  });

// What the schema accepts is what the contract shows callers.
catalogEntrySchema satisfies z.ZodType<ContractCatalogEntry>;

export const catalogSchema = z
  .strictObject({
    version: z.literal(1),
    /** How derived values (ramGB) were computed, and other caveats. */
    notes: z.array(z.string().min(1)).optional(),
    models: z.array(catalogEntrySchema).min(1, 'the catalog needs at least one model'),
  })
  .superRefine((catalog, ctx) => {
    const seen = new Set<string>();
    catalog.models.forEach((entry, index) => {
      if (seen.has(entry.id)) {
        ctx.addIssue({ code: 'custom', message: `duplicate model id "${entry.id}"`, path: ['models', index, 'id'] });
      }
      seen.add(entry.id);
    });
    const recommended = catalog.models.filter((entry) => entry.recommended === true);
    if (recommended.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          recommended.length === 0
            ? 'exactly one model must be recommended, found none'
            : `exactly one model must be recommended, found ${recommended.length}: ${recommended.map((entry) => entry.id).join(', ')}`,
        path: ['models'],
      });
    }
  });

export type Catalog = z.infer<typeof catalogSchema>;
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;
export type CatalogFile = z.infer<typeof catalogFileSchema>;
export type CatalogSingleFile = z.infer<typeof catalogSingleFileSchema>;
export type CatalogMultiPartFile = z.infer<typeof catalogMultiPartFileSchema>;
export type CatalogFilePart = z.infer<typeof catalogFilePartSchema>;

/** Raised when a catalog does not validate; the message names the first problem and where it is. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
  constructor(
    message: string,
    readonly path: readonly PropertyKey[] = [],
  ) {
    super(message);
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/** Validates a parsed catalog.json and returns it typed, or throws a CatalogError naming the first problem. */
export function parseCatalog(json: unknown): Catalog {
  const result = catalogSchema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new CatalogError('invalid catalog');
  throw new CatalogError(`invalid catalog at ${formatPath(issue.path)}: ${issue.message}`, issue.path);
}

/** models/catalog.json in the package root (found from this file, whether run from source or from dist). */
export function defaultCatalogPath(): string {
  return join(packageRoot(), 'models', 'catalog.json');
}

/** Reads and validates the catalog; `path` defaults to models/catalog.json in the package root. */
export async function loadCatalog(path: string = defaultCatalogPath()): Promise<Catalog> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseCatalog(json);
}

/** The first-run default entry. */
export function recommendedEntry(catalog: Catalog): CatalogEntry {
  const entry = catalog.models.find((model) => model.recommended === true);
  if (!entry) throw new CatalogError('no recommended model in the catalog');
  return entry;
}
