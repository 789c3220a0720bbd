/**
 * Model sources: `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<path/file>.gguf`, or an https URL, and
 * their resolution into the files to download (every part of a split `*-00001-of-00003.gguf` model).
 */
import { basename } from 'node:path';
import { checkUrl, getJson, type HttpContext } from './http.js';
import { DownloadError } from './download-errors.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export type ModelSource =
  | { kind: 'hf-quant'; repo: string; quant: string }
  | { kind: 'hf-file'; repo: string; file: string }
  | { kind: 'url'; url: URL };

/** One file to download, named as it will be in the models folder. */
export interface RemoteFile {
  name: string;
  url: string;
  size: number | null;
  sha256: string | null;
}

const REPO = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The Hugging Face endpoint: `HF_ENDPOINT` (a mirror, or a test server) or huggingface.co. */
export function hfEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT;
  const url = checkUrl(raw, 'HF_ENDPOINT');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Parses a source string; throws `invalid_source` with what is wrong. */
export function parseModelSource(source: string): ModelSource {
  const text = source.trim();
  if (/^https?:\/\//i.test(text)) {
    const url = checkUrl(text, 'The model URL');
    fileNameOf(decodeURIComponent(url.pathname));
    return { kind: 'url', url };
  }
  if (!text.startsWith('hf:')) {
    throw new DownloadError('invalid_source', `Unknown model source "${source}": use hf:<user>/<repo>:<quant>, hf:<user>/<repo>/<file>.gguf or an https:// URL.`);
  }
  const rest = text.slice(3);
  const quant = rest.match(/^([^/:]+\/[^/:]+):([\w.+-]+)$/);
  if (quant && REPO.test(quant[1]!)) return { kind: 'hf-quant', repo: quant[1]!, quant: quant[2]! };
  const file = rest.match(/^([^/:]+\/[^/:]+)\/(.+)$/);
  if (file && REPO.test(file[1]!)) {
    const path = file[2]!;
    if (path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new DownloadError('invalid_source', `"${path}" is not a file path inside the repository.`);
    }
    fileNameOf(path);
    return { kind: 'hf-file', repo: file[1]!, file: path };
  }
  throw new DownloadError('invalid_source', `"${source}" names no model: use hf:<user>/<repo>:<quant> (e.g. hf:user/repo:Q4_K_M) or hf:<user>/<repo>/<file>.gguf.`);
}

/** `{endpoint}/{user}/{repo}/resolve/main/{file}` with each path segment escaped. */
export function hfFileUrl(endpoint: string, repo: string, file: string): string {
  return `${endpoint}/${repo}/resolve/main/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The files a source means. `hf:` quant sources ask the model API for the repository's file list (with
 * sizes and LFS sha256 when the API gives them); the others are one file whose facts come later.
 */
export async function resolveSource(ctx: HttpContext, endpoint: string, source: ModelSource, signal: AbortSignal): Promise<RemoteFile[]> {
  if (source.kind === 'url') {
    return splitParts(source.url.pathname).map((pathname) => {
      const url = new URL(source.url);
      url.pathname = pathname;
      return { name: fileNameOf(decodeURIComponent(pathname)), url: url.href, size: null, sha256: null };
    });
  }
  if (source.kind === 'hf-file') {
    return splitParts(source.file).map((file) => ({ name: fileNameOf(file), url: hfFileUrl(endpoint, source.repo, file), size: null, sha256: null }));
  }
  const what = `the Hugging Face repository ${source.repo}`;
  const api = checkUrl(`${endpoint}/api/models/${source.repo}?blobs=true`, 'The Hugging Face API URL');
  const info = (await getJson(ctx, api, signal, what)) as { siblings?: Sibling[] } | null;
  const siblings = Array.isArray(info?.siblings) ? info.siblings.filter((s) => typeof s?.rfilename === 'string') : [];
  const files = pickQuantFiles(siblings.map((s) => s.rfilename), source.quant, source.repo);
  return files.map((file) => {
    const sibling = siblings.find((s) => s.rfilename === file);
    const size = sibling?.lfs?.size ?? sibling?.size;
    const sha256 = sibling?.lfs?.sha256?.toLowerCase();
    return {
      name: fileNameOf(file),
      url: hfFileUrl(endpoint, source.repo, file),
      size: typeof size === 'number' && Number.isSafeInteger(size) ? size : null,
      sha256: sha256 && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null,
    };
  });
}

interface Sibling {
  rfilename: string;
  size?: number;
  lfs?: { sha256?: string; size?: number };
}

/**
 * The GGUF file (or every part of a split one) whose name contains `quant`. A match on a whole name piece
 * wins over a substring, so `Q4_K` picks `…Q4_K.gguf` and not `…Q4_K_M.gguf`; vision projectors
 * (`mmproj…`) are never the model.
 */
export function pickQuantFiles(filenames: string[], quant: string, repo: string): string[] {
  const ggufs = filenames.filter((f) => /\.gguf$/i.test(f) && !/(^|\/)mmproj/i.test(f));
  const needle = quant.toLowerCase();
  const escaped = needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const whole = new RegExp(`(^|[^a-z0-9_])${escaped}([^a-z0-9_]|$)`, 'i');
  let matches = ggufs.filter((f) => whole.test(f));
  if (matches.length === 0) matches = ggufs.filter((f) => f.toLowerCase().includes(needle));
  if (matches.length === 0) {
    const available = ggufs.length ? ` It has: ${ggufs.slice(0, 12).join(', ')}${ggufs.length > 12 ? ', …' : ''}.` : ' It has no GGUF files.';
    throw new DownloadError('not_found', `No GGUF file for ${quant} in ${repo}.${available}`);
  }
  // Group split parts by their shared prefix; a single file is a group of one.
  const groups = new Map<string, string[]>();
  for (const file of matches) {
    const key = file.replace(SPLIT, '-of-$2.gguf');
    groups.set(key, [...(groups.get(key) ?? []), file]);
  }
  if (groups.size > 1) {
    throw new DownloadError(
      'invalid_source',
      `${quant} matches several models in ${repo}: ${[...groups.values()].map((g) => g[0]).join(', ')}. Name one with hf:${repo}/<file>.gguf.`,
    );
  }
  const [group] = [...groups.values()] as [string[]];
  const total = group[0]!.match(SPLIT)?.[2];
  if (total === undefined) return group;
  const parts = group.sort();
  const expected = Number(total);
  const numbers = parts.map((f) => Number(f.match(SPLIT)?.[1]));
  if (parts.length !== expected || numbers.some((n, i) => n !== i + 1)) {
    throw new DownloadError('not_found', `${repo} lists ${parts.length} of the ${expected} parts of ${group[0]}; the model is incomplete.`);
  }
  return parts;
}

/**
 * Every part of a split model when `path` names one of them (`…-00001-of-00003.gguf` gives parts 1 to 3):
 * llama.cpp needs all of them, so naming any part downloads the set.
 */
export function splitParts(path: string): string[] {
  const match = SPLIT.exec(path);
  const total = Number(match?.[2]);
  if (!match || total < 1 || total > 9999) return [path];
  const at = match.index + 1; // the first digit of the part number
  return Array.from({ length: total }, (_, i) => `${path.slice(0, at)}${String(i + 1).padStart(5, '0')}${path.slice(at + 5)}`);
}

/** The name a file gets in the models folder; only plain `*.gguf` names are accepted. */
export function fileNameOf(path: string): string {
  const name = basename(path);
  if (!/^[\w.+-]+\.gguf$/i.test(name) || name.startsWith('.')) {
    throw new DownloadError('invalid_source', `"${name || path}" is not a .gguf file name.`);
  }
  return name;
}
