/**
 * Draws Spillway's icon and writes it in every format the installers need, into build/:
 *   icon.png (1024 px), icons/<n>x<n>.png (Linux), icon.icns (macOS), icon.ico (Windows).
 * The files are committed; run `node scripts/make-icons.mjs` after changing the drawing.
 *
 * The mark: water in three bands on a blue tile, the lower bands spilling past the upper ones. Each size
 * is drawn at that size (4x4 supersampling) rather than scaled down, so small sizes stay crisp.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

const out = fileURLToPath(new URL('../build/', import.meta.url));
const SAMPLES = 4;

/** Colour of the icon at (u, v) in [0, 1]², as [r, g, b, a] in 0..255. */
function shade(u, v) {
  // The tile: a rounded square, inset so the OS's own shadow has room.
  const inset = 0.06;
  const radius = 0.2;
  const dx = Math.max(inset + radius - u, 0, u - (1 - inset - radius));
  const dy = Math.max(inset + radius - v, 0, v - (1 - inset - radius));
  if (u < inset || u > 1 - inset || v < inset || v > 1 - inset || dx * dx + dy * dy > radius * radius) return [0, 0, 0, 0];
  // Three wave bands, each starting further right and lower: water stepping over a spillway.
  const bands = [
    { centre: 0.36, start: 0.16 },
    { centre: 0.52, start: 0.28 },
    { centre: 0.68, start: 0.4 },
  ];
  for (const { centre, start } of bands) {
    if (u < start || u > 0.84) continue;
    const y = centre + 0.035 * Math.sin(2 * Math.PI * (u * 1.6 - start));
    if (Math.abs(v - y) < 0.045) return [255, 255, 255, 255];
  }
  // Sky blue at the top to deep blue at the bottom.
  const t = (v - inset) / (1 - 2 * inset);
  return [Math.round(56 + (30 - 56) * t), Math.round(189 + (64 - 189) * t), Math.round(248 + (175 - 248) * t), 255];
}

/** RGBA pixels (row-major, top row first) of the icon at size × size. */
function render(size) {
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const [cr, cg, cb, ca] = shade((x + (sx + 0.5) / SAMPLES) / size, (y + (sy + 0.5) / SAMPLES) / size);
          r += cr * ca;
          g += cg * ca;
          b += cb * ca;
          a += ca;
        }
      }
      const at = (y * size + x) * 4;
      // Colours are averaged weighted by coverage (premultiplied), then un-premultiplied.
      pixels[at] = a ? Math.round(r / a) : 0;
      pixels[at + 1] = a ? Math.round(g / a) : 0;
      pixels[at + 2] = a ? Math.round(b / a) : 0;
      pixels[at + 3] = Math.round(a / (SAMPLES * SAMPLES));
    }
  }
  return pixels;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function png(size, pixels) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bits per channel
  header[9] = 6; // RGBA
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) pixels.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** A 32-bit BMP entry for an .ico (small sizes; some Windows tools mishandle PNG entries below 256). */
function dib(size, pixels) {
  const info = Buffer.alloc(40);
  info.writeUInt32LE(40, 0);
  info.writeInt32LE(size, 4);
  info.writeInt32LE(size * 2, 8); // colour rows plus the AND mask's rows
  info.writeUInt16LE(1, 12);
  info.writeUInt16LE(32, 14);
  const colour = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const from = (y * size + x) * 4;
      const to = ((size - 1 - y) * size + x) * 4; // bottom-up, BGRA
      colour[to] = pixels[from + 2];
      colour[to + 1] = pixels[from + 1];
      colour[to + 2] = pixels[from];
      colour[to + 3] = pixels[from + 3];
    }
  }
  const maskRow = Math.ceil(size / 32) * 4;
  return Buffer.concat([info, colour, Buffer.alloc(maskRow * size)]);
}

function ico(images) {
  const header = Buffer.alloc(6 + 16 * images.length);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  let offset = header.length;
  images.forEach(({ size, data }, index) => {
    const at = 6 + 16 * index;
    header[at] = size >= 256 ? 0 : size;
    header[at + 1] = size >= 256 ? 0 : size;
    header.writeUInt16LE(1, at + 4);
    header.writeUInt16LE(32, at + 6);
    header.writeUInt32LE(data.length, at + 8);
    header.writeUInt32LE(offset, at + 12);
    offset += data.length;
  });
  return Buffer.concat([header, ...images.map((image) => image.data)]);
}

function icns(entries) {
  const blocks = entries.map(({ type, data }) => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'latin1');
    head.writeUInt32BE(data.length + 8, 4);
    return Buffer.concat([head, data]);
  });
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'latin1');
  head.writeUInt32BE(8 + blocks.reduce((total, block) => total + block.length, 0), 4);
  return Buffer.concat([head, ...blocks]);
}

const sizes = [16, 24, 32, 48, 64, 128, 256, 512, 1024];
const pngs = new Map(sizes.map((size) => [size, png(size, render(size))]));

mkdirSync(join(out, 'icons'), { recursive: true });
writeFileSync(join(out, 'icon.png'), pngs.get(1024));
for (const size of [16, 32, 48, 64, 128, 256, 512]) writeFileSync(join(out, 'icons', `${size}x${size}.png`), pngs.get(size));
// PNG entries by type: ic07 128, ic08 256, ic09 512, ic10 1024 (512@2x), ic11 32 (16@2x), ic12 64 (32@2x),
// ic13 256 (128@2x), ic14 512 (256@2x).
writeFileSync(
  join(out, 'icon.icns'),
  icns([
    { type: 'ic11', data: pngs.get(32) },
    { type: 'ic12', data: pngs.get(64) },
    { type: 'ic07', data: pngs.get(128) },
    { type: 'ic13', data: pngs.get(256) },
    { type: 'ic08', data: pngs.get(256) },
    { type: 'ic14', data: pngs.get(512) },
    { type: 'ic09', data: pngs.get(512) },
    { type: 'ic10', data: pngs.get(1024) },
  ]),
);
writeFileSync(join(out, 'icon.ico'), ico([...[16, 24, 32, 48, 64, 128].map((size) => ({ size, data: dib(size, render(size)) })), { size: 256, data: pngs.get(256) }]));
console.log(`icons written to ${out}`);
