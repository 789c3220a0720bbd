/**
 * Files dropped on or picked for the message box, as the attachments a message carries: images (PNG,
 * JPEG, WebP, GIF) as data: URLs, anything else that is UTF-8 text as text. Each limit is checked here
 * first, with a message naming the file, and again by the services.
 */
import { ATTACHMENT_LIMITS, IMAGE_TYPES, type Attachment, type ImageType } from '../../../electron/contract/index.js';

/** Why a file cannot be attached, in words for the person who chose it. */
export class AttachmentError extends Error {
  override name = 'AttachmentError';
}

/** Reads one file as an attachment, or throws AttachmentError saying why it cannot be one. */
export async function readAttachment(file: File): Promise<Attachment> {
  if ((IMAGE_TYPES as readonly string[]).includes(file.type)) {
    if (file.size > ATTACHMENT_LIMITS.imageBytes) throw new AttachmentError(`${file.name} is ${formatSize(file.size)}; an image may be up to ${formatSize(ATTACHMENT_LIMITS.imageBytes)}.`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    return { kind: 'image', name: file.name, mimeType: file.type as ImageType, dataUrl: `data:${file.type};base64,${toBase64(bytes)}` };
  }
  if (file.type.startsWith('image/')) throw new AttachmentError(`${file.name} is a ${file.type} image; images can be PNG, JPEG, WebP or GIF.`);
  if (file.size > ATTACHMENT_LIMITS.textBytes) {
    throw new AttachmentError(`${file.name} is ${formatSize(file.size)}; a text or code file may be up to ${formatSize(ATTACHMENT_LIMITS.textBytes)}.`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await file.arrayBuffer());
  } catch {
    text = '\u0000';
  }
  if (text.includes('\u0000')) throw new AttachmentError(`${file.name} is neither a text file nor an image (PNG, JPEG, WebP, GIF).`);
  return { kind: 'text', name: file.name, text };
}

/** The bytes an attachment sends. */
export function attachmentBytes(attachment: Attachment): number {
  if (attachment.kind === 'text') return new TextEncoder().encode(attachment.text).length;
  const data = attachment.dataUrl.slice(attachment.dataUrl.indexOf(',') + 1);
  return Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
}

/** A size as people read it: 512 B, 12 KB, 4.2 MB (1024-based, as the limits are). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MB`;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode with millions of arguments would overflow the stack.
  for (let at = 0; at < bytes.length; at += 0x8000) binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  return btoa(binary);
}
