import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  CatalogError,
  defaultCatalogPath,
  loadCatalog,
  parseCatalog,
  recommendedEntry,
  type Catalog,
} from '../../electron/services/models/catalog-schema.js';

/** A fresh, mutable copy of the shipped catalog's JSON for each negative test. */
let shippedJson: string;
function copy(): { models: Array<Record<string, unknown> & { files: Array<Record<string, unknown>> }> } & Record<string, unknown> {
  return JSON.parse(shippedJson);
}

function rejects(json: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseCatalog(json),
    (error: unknown) => {
      assert.ok(error instanceof CatalogError, `expected a CatalogError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

before(async () => {
  shippedJson = await readFile(defaultCatalogPath(), 'utf8');
});

describe('shipped catalog (models/catalog.json)', () => {
  let catalog: Catalog;
  before(async () => {
    catalog = await loadCatalog();
  });

  it('is found in the package root and validates', () => {
    assert.match(defaultCatalogPath(), /[/\\]models[/\\]catalog\.json$/);
    assert.equal(catalog.version, 1);
    assert.ok(catalog.models.length >= 6 && catalog.models.length <= 10, `${catalog.models.length} models`);
  });

  it('has exactly one recommended entry, which says why', () => {
    const recommended = catalog.models.filter((entry) => entry.recommended === true);
    assert.equal(recommended.length, 1);
    assert.equal(recommendedEntry(catalog).id, recommended[0]?.id);
    assert.ok(recommended[0]?.why && recommended[0].why.length > 20);
  });

  it('offers Q4_K_M for every entry', () => {
    for (const entry of catalog.models) {
      assert.ok(
        entry.files.some((file) => file.quantization === 'Q4_K_M'),
        `${entry.id} has no Q4_K_M file`,
      );
    }
  });

  it('has unique ids, .gguf file names, sources and a ramGB for every file', () => {
    const ids = catalog.models.map((entry) => entry.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const entry of catalog.models) {
      assert.ok(entry.sources.length > 0, `${entry.id} has no sources`);
      for (const file of entry.files) {
        const names = 'parts' in file ? file.parts.map((part) => part.file) : [file.file];
        for (const name of names) assert.match(name, /\.gguf$/);
        assert.ok(file.ramGB > 0);
      }
    }
  });

  it('explains in its notes how ramGB was computed', () => {
    assert.ok(catalog.notes?.some((note) => /ramGB/.test(note) && /KV cache/.test(note)));
  });

  it('spans small to 7B-class models', () => {
    const sizes = catalog.models.map((entry) => entry.parametersBillions);
    assert.ok(Math.min(...sizes) <= 1);
    assert.ok(Math.max(...sizes) >= 7);
  });
});

describe('parseCatalog', () => {
  it('returns the typed catalog for valid input', () => {
    const catalog = parseCatalog(copy());
    assert.equal(catalog.models.length, JSON.parse(shippedJson).models.length);
  });

  it('rejects a duplicate id, naming it', () => {
    const json = copy();
    json.models.push({ ...json.models[0]!, recommended: false });
    rejects(json, /duplicate model id "[^"]+"/);
  });

  it('rejects a malformed sha256', () => {
    const json = copy();
    json.models[0]!.files[0]!.sha256 = 'abc123';
    rejects(json, /models\[0\]\.files\[0\].*sha256 must be 64 lowercase hex characters/);
  });

  it('rejects an upper-case sha256', () => {
    const json = copy();
    json.models[0]!.files[0]!.sha256 = 'A'.repeat(64);
    rejects(json, /sha256 must be 64 lowercase hex characters/);
  });

  it('rejects two recommended entries, naming both', () => {
    const json = copy();
    for (const entry of json.models) delete entry.recommended;
    json.models[0]!.recommended = true;
    json.models[0]!.why = 'first';
    json.models[1]!.recommended = true;
    json.models[1]!.why = 'second';
    rejects(json, new RegExp(`exactly one model must be recommended, found 2: ${String(json.models[0]!.id).replace(/\./g, '\\.')}`));
  });

  it('rejects a catalog with no recommended entry', () => {
    const json = copy();
    for (const entry of json.models) delete entry.recommended;
    rejects(json, /exactly one model must be recommended, found none/);
  });

  it('rejects a recommended entry without a why', () => {
    const json = copy();
    const recommended = json.models.find((entry) => entry.recommended === true)!;
    delete recommended.why;
    rejects(json, /recommended entry must say why/);
  });

  it('rejects a file that is not .gguf', () => {
    const json = copy();
    json.models[0]!.files[0]!.file = 'model.safetensors';
    rejects(json, /models\[0\]\.files\[0\].*file name must end with \.gguf/);
  });

  it('rejects a repo that is not user/repo', () => {
    const json = copy();
    json.models[0]!.repo = 'https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF';
    rejects(json, /repo must be a Hugging Face "user\/repo"/);
  });

  it('rejects an id that is not kebab-case', () => {
    const json = copy();
    json.models[0]!.id = 'Qwen_2.5';
    rejects(json, /id must be kebab-case/);
  });

  it('rejects unknown fields and a wrong version', () => {
    const unknown = copy();
    unknown.models[0]!.typo = true;
    rejects(unknown, /models\[0\]/);
    const version = copy();
    version.version = 2;
    rejects(version, /version/);
  });

  it('accepts a multi-part file and checks each part', () => {
    const json = copy();
    json.models[0]!.files.push({
      quantization: 'Q8_0',
      parts: [{ file: 'big-q8_0-00001-of-00002.gguf', sizeBytes: 4_000_000_000 }, { file: 'big-q8_0-00002-of-00002.gguf' }],
      ramGB: 9,
    });
    const catalog = parseCatalog(json);
    const last = catalog.models[0]!.files.at(-1)!;
    assert.ok('parts' in last && last.parts.length === 2);

    const bad = copy();
    bad.models[0]!.files.push({ quantization: 'Q8_0', parts: [{ file: 'a.gguf' }, { file: 'b.bin' }], ramGB: 9 });
    rejects(bad, /parts\[1\]\.file: file name must end with \.gguf/);
  });

  it('rejects the same file listed twice in one entry', () => {
    const json = copy();
    json.models[0]!.files.push({ ...json.models[0]!.files[0]!, quantization: 'Q5_K_M' });
    rejects(json, /duplicate file name/);
  });

  it('rejects something that is not a catalog at all', () => {
    rejects(null, /invalid catalog at \(root\)/);
    rejects({ version: 1, models: [] }, /at least one model/);
  });
});

describe('loadCatalog', () => {
  it('reads a catalog from a given path and reports invalid JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spillway-catalog-'));
    try {
      const good = join(dir, 'good.json');
      await writeFile(good, shippedJson);
      assert.equal((await loadCatalog(good)).version, 1);

      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{ not json');
      await assert.rejects(loadCatalog(broken), /is not valid JSON/);

      const invalid = join(dir, 'invalid.json');
      const json = JSON.parse(shippedJson);
      json.models[0].files[0].sha256 = 'nope';
      await writeFile(invalid, JSON.stringify(json));
      await assert.rejects(loadCatalog(invalid), /sha256 must be 64 lowercase hex characters/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
