/**
 * Model output is untrusted. It is parsed as Markdown by marked and then sanitised by DOMPurify before it
 * reaches the DOM: no script, no event handler, no style, no image (an image URL is a way to send the
 * conversation to a third party), and links only to http(s) or mailto, opened outside the app. Code
 * blocks are highlighted when a highlighter is given; its markup goes through the same sanitiser.
 */
import DOMPurify from 'dompurify';
import { Marked, marked } from 'marked';

/** Highlights code of a language ('' when the block names none); null leaves the block as plain text. */
export type Highlighter = (code: string, language: string) => string | null;

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

const parsers = new WeakMap<Highlighter, Marked>();

/** A Markdown parser whose fenced code blocks go through `highlight`. */
function parserFor(highlight: Highlighter): Marked {
  let parser = parsers.get(highlight);
  if (parser) return parser;
  parser = new Marked({
    renderer: {
      code({ text, lang }) {
        const language = /^[\w+#-]{1,30}$/.test(lang?.trim() ?? '') ? lang!.trim().toLowerCase() : '';
        const highlighted = highlight(text, language);
        // false: marked's own rendering, the code as plain text.
        if (highlighted === null) return false;
        return `<pre><code class="hljs${language ? ` language-${language}` : ''}">${highlighted}</code></pre>\n`;
      },
    },
  });
  parsers.set(highlight, parser);
  return parser;
}

/** Markdown to sanitised HTML, safe to insert; code highlighted when `highlight` is given. */
export function renderMarkdown(text: string, highlight: Highlighter | null = null): string {
  ensureHook();
  const html = (highlight ? parserFor(highlight) : marked).parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'target', 'rel', 'start', 'class'],
    ALLOW_DATA_ATTR: false,
  });
}

/** Whether Markdown has a code block worth loading the highlighter for. */
export function hasCodeBlock(text: string): boolean {
  return /^ {0,3}(```|~~~)/m.test(text);
}
