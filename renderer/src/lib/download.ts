/** Saves text as a file the person downloads (a Blob URL: nothing goes over the network). */
export function downloadText(text: string, fileName: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started by the time the click returns; the URL is only needed until then.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
