// PNG's row filters (RFC 2083 §6, ISO/IEC 15948 §9) on rows of bytes, for the 8-bit palette form of image-like
// tensors. A filter replaces each byte by its difference from a predictor (the byte to the left, the one above,
// their mean, or the Paeth predictor), which turns the smooth gradients of a photo or an upsampled image into runs
// of small values that DEFLATE then codes in a few bits. Without them an image deflated to 1.5× its PNG file
// (fmnist-heavy's 96×96 inputs: 4,237 B against 2,879 B). Each row is led by its filter type and the encoder
// picks it as libpng does: the smallest sum of the filtered bytes read as signed values.

/** PNG's filter types, in the order of their type byte. */
const FILTER_TYPES = 5;

/** How a tensor's bytes fall into rows: `length` bytes per row, `bpp` bytes per pixel (the left neighbour's distance). */
export interface RowLayout {
  readonly length: number;
  readonly bpp: number;
}

/** Bytes of `count` filtered bytes in rows of `layout`: one type byte per row. */
export function filteredLength(count: number, layout: RowLayout): number {
  return layout.length === 0 ? 0 : count + count / layout.length;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function predict(type: number, a: number, b: number, c: number): number {
  switch (type) {
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >> 1;
    case 4:
      return paeth(a, b, c);
    default:
      return 0;
  }
}

// A filtered byte read as a signed value, in magnitude: libpng's cost of a filter choice.
const magnitude = (v: number): number => (v < 128 ? v : 256 - v);

/** Filters `bytes` row by row into `out` (which has room for {@link filteredLength}), each row's best filter first. */
export function filterRows(bytes: Uint8Array, layout: RowLayout, out: Uint8Array, outAt: number): void {
  const { length, bpp } = layout;
  if (length === 0) return;
  const zero = new Uint8Array(length);
  for (let row = 0, at = outAt; row * length < bytes.length; row++, at += length + 1) {
    const cur = bytes.subarray(row * length, (row + 1) * length);
    const up = row === 0 ? zero : bytes.subarray((row - 1) * length, row * length);
    // One pass prices all five filters; a second writes the cheapest. Monomorphic arithmetic, no per-byte switch.
    let none = 0;
    let sub = 0;
    let upCost = 0;
    let avg = 0;
    let pae = 0;
    for (let i = 0; i < length; i++) {
      const x = cur[i]!;
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = up[i]!;
      const c = i >= bpp ? up[i - bpp]! : 0;
      none += magnitude(x);
      sub += magnitude((x - a) & 0xff);
      upCost += magnitude((x - b) & 0xff);
      avg += magnitude((x - ((a + b) >> 1)) & 0xff);
      pae += magnitude((x - paeth(a, b, c)) & 0xff);
    }
    const costs = [none, sub, upCost, avg, pae];
    let best = 0;
    for (let type = 1; type < FILTER_TYPES; type++) if (costs[type]! < costs[best]!) best = type;
    out[at] = best;
    for (let i = 0; i < length; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const c = i >= bpp ? up[i - bpp]! : 0;
      out[at + 1 + i] = (cur[i]! - predict(best, a, up[i]!, c)) & 0xff;
    }
  }
}

/**
 * Reverses {@link filterRows}: `count` bytes from the filtered rows in `filtered` at `at`, or a problem text when a
 * row names an unknown filter type.
 */
export function unfilterRows(filtered: Uint8Array, at: number, count: number, layout: RowLayout): Uint8Array | string {
  const { length, bpp } = layout;
  const out = new Uint8Array(count);
  if (length === 0) return out;
  for (let row = 0; row * length < count; row++) {
    const src = at + row * (length + 1);
    const type = filtered[src]!;
    if (type >= FILTER_TYPES) return `row ${row} has filter type ${type}; PNG's are 0-4`;
    const base = row * length;
    for (let i = 0; i < length; i++) {
      const a = i >= bpp ? out[base + i - bpp]! : 0;
      const b = row === 0 ? 0 : out[base - length + i]!;
      const c = row === 0 || i < bpp ? 0 : out[base - length + i - bpp]!;
      out[base + i] = (filtered[src + 1 + i]! + predict(type, a, b, c)) & 0xff;
    }
  }
  return out;
}
