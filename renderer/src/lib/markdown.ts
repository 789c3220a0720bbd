/**
 * Model output is untrusted. It is parsed as Markdown by marked and then sanitised by DOMPurify before it
 * reaches the DOM: no script, no event handler, no style, no image (an image URL is a way to send the
 * conversation to a third party), and links only to http(s) or mailto, opened outside the app.
 */
import DOMPurify from 'dompurify';
import { marked } from 'marked';

const ALLOWED_TAGS = [
  'p', 'br', 'hr', 'strong', 'em', 'del', 'code', 'pre', 'blockquote', 'a',
  'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span',
];

let hooked = false;

function ensureHook(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName !== 'A') return;
    const href = node.getAttribute('href') ?? '';
    if (!/^(https?:|mailto:)/i.test(href)) {
      node.removeAttribute('href');
      return;
    }
    // The desktop app's window-open handler sends these to the system browser after checking them.
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  });
}

/** Markdown to sanitised HTML, safe to insert. */
export function renderMarkdown(text: string): string {
  ensureHook();
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'target', 'rel', 'start', 'class'],
    ALLOW_DATA_ATTR: false,
  });
}
