/**
 * Syntax highlighting with highlight.js and its common languages. Imported only dynamically (see
 * state/highlighting.svelte.ts), so the first paint never waits for it; its output is escaped markup of
 * `<span class="hljs-…">` that renderMarkdown sanitises like everything else.
 */
import hljs from 'highlight.js/lib/common';
import type { Highlighter } from './markdown.js';

/** Guessing a language runs every grammar over the code: only for short blocks. */
const GUESS_LIMIT = 4000;

export const highlight: Highlighter = (code, language) => {
  if (language && hljs.getLanguage(language)) return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  if (language || code.length > GUESS_LIMIT) return null;
  const guessed = hljs.highlightAuto(code);
  // A guess with little evidence colours prose as code: leave it plain.
  return guessed.relevance >= 5 ? guessed.value : null;
};
