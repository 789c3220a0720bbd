/**
 * Serves the built browser UI. Every path is resolved and checked to stay inside the UI folder (symlinks
 * included), so no request can read another file on the machine.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { sendText } from './http-util.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spillway</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>Spillway is running</h1>
<p>The web UI is not built yet. Build it with <code>npm run build</code> (it goes to <code>dist/renderer</code>), then reload this page.</p>
<p>The OpenAI-compatible API is available now at <code>/v1</code> (<code>/v1/chat/completions</code>, <code>/v1/models</code>).</p>
</body></html>
`;

/** Answers GET and HEAD for files under `dir`; `/` is index.html, or a page saying the UI is not built. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string, dir: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendText(res, 405, 'Method not allowed.');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return sendText(res, 400, 'Bad path.');
  }
  if (decoded.includes('\0')) return sendText(res, 400, 'Bad path.');
  const isRoot = decoded === '/' || decoded === '/index.html';
  const relative = decoded.endsWith('/') ? `${decoded}index.html` : decoded;

  const file = await resolveInside(dir, relative);
  if (!file) {
    if (isRoot) return sendText(res, 503, NOT_BUILT_PAGE, 'text/html; charset=utf-8');
    return sendText(res, 404, 'Not found.');
  }
  const type = CONTENT_TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'content-type': type,
    'content-length': file.size,
    // The UI changes with every build; hashed asset names could be cached longer once the renderer has them.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // No site may frame the UI (clickjacking); the page's own CSP meta tag covers the rest.
    'content-security-policy': "frame-ancestors 'none'",
    'x-frame-options': 'DENY',
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file.path)
    .on('error', () => res.destroy())
    .pipe(res);
}

/** The real path of a regular file inside `dir`, or null for anything missing or outside it. */
async function resolveInside(dir: string, relative: string): Promise<{ path: string; size: number } | null> {
  try {
    const root = await realpath(resolve(dir));
    const candidate = resolve(root, `.${relative.startsWith('/') ? relative : `/${relative}`}`);
    if (!isInside(root, candidate)) return null;
    // Checked again after symlinks are followed: a link inside the folder may point anywhere.
    const real = await realpath(candidate);
    if (!isInside(root, real)) return null;
    const stats = await stat(real);
    return stats.isFile() ? { path: real, size: stats.size } : null;
  } catch {
    return null;
  }
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
