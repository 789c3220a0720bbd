/**
 * A "Copy" button on each code block of rendered Markdown. The buttons are added to the DOM after it is
 * rendered, never written into the HTML: model output cannot make controls of its own.
 */
import type { Attachment } from 'svelte/attachments';

/**
 * An attachment for the element holding the Markdown's HTML; `html` is what it currently shows (when it
 * changes, the buttons are made again for the new blocks).
 */
export function codeCopyButtons(html: string, copy: (text: string) => Promise<boolean>): Attachment<HTMLElement> {
  void html;
  return (element) => {
    const added: HTMLElement[] = [];
    element.querySelectorAll('pre').forEach((pre, index) => {
      const code = pre.querySelector('code') ?? pre;
      const language = /\blanguage-([\w+#-]+)/.exec(code.className)?.[1] ?? '';
      const bar = document.createElement('div');
      bar.className = 'code-bar';
      const label = document.createElement('span');
      label.textContent = language;
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Copy code';
      button.setAttribute('aria-label', `Copy code block ${index + 1}${language ? ` (${language})` : ''}`);
      button.addEventListener('click', () => {
        void copy(code.textContent ?? '').then((done) => {
          button.textContent = done ? 'Copied' : 'Copy failed';
          setTimeout(() => (button.textContent = 'Copy code'), 1500);
        });
      });
      bar.append(label, button);
      pre.before(bar);
      added.push(bar);
    });
    return () => added.forEach((bar) => bar.remove());
  };
}
