// Lossless 8-bit form of an image-like float32 tensor. A model input built from 8-bit pixels (k / 255, or any
// per-channel map of bytes such as (k / 255 - mean) / std) holds at most 256 distinct float32 values per channel.
// Rather than guess the map and redo its arithmetic (float rounding makes that inexact), each channel sends its
// distinct values (its palette) and each element the index of its value: decoding is a table lookup of the exact
// float32 bits, so it is exact by construction, value by value. A tensor with more than 256 distinct values in some
// channel has no such form, and the caller falls back to f32.
//
// Layout before the entropy stage: one byte per channel (palette size - 1), then each channel's palette as
// little-endian uint32 deltas of order-preserving keys of the float32 bits (near-constant for an affine map of
// bytes, so they deflate to a few bytes), then one index byte per element. Indices are ranks in the sorted palette,
// so neighbouring pixels of similar brightness get similar indices. They are stored as PNG stores pixels: the
// channels of a pixel side by side (NCHW is interleaved), in rows of the image's width filtered as PNG filters its
// rows (row-filters.ts). Both matter: planes of 50 KB lie beyond DEFLATE's 32 KB window from each other, so the
// likeness of a pixel's channels is lost unless they sit together.
import { filteredLength, filterRows, type RowLayout, unfilterRows } from './row-filters.js';

/** Most distinct values per channel that fit an index byte. */
const MAX_PALETTE = 256;
/** Most channels with a palette of their own; beyond this one palette covers the tensor. */
const MAX_CHANNELS = 4;

/** How elements split into channels: `outer` blocks of `channels` × `inner` elements. */
interface Layout {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
}

/** The palette form of a tensor before the entropy stage, and the channel axis it used (absent: one palette). */
export interface BytePaletteForm {
  readonly bytes: Uint8Array;
  readonly axis?: number;
}

/**
 * The channel axis of an image-like tensor of shape `dims`: axis 1 (NCHW) or the last axis (NHWC) when it has at most
 * 4 channels; undefined (one palette for the tensor) otherwise.
 */
export function paletteAxis(dims: readonly number[]): number | undefined {
  if (dims.length >= 3 && (dims[1] ?? 0) <= MAX_CHANNELS) return 1;
  if (dims.length >= 3 && (dims[dims.length - 1] ?? 0) <= MAX_CHANNELS) return dims.length - 1;
  return undefined;
}

/** The fewest and most bytes the palette form of a tensor of shape `dims` with channel axis `axis` takes. */
export function paletteFormBounds(
  dims: readonly number[],
  axis: number | undefined,
): { readonly minBytes: number; readonly maxBytes: number } {
  const count = dims.reduce((a, b) => a * b, 1);
  const channels = paletteChannels(dims, axis);
  const indexBytes = filteredLength(count, rowsOf(dims, axis, count));
  return { minBytes: 5 * channels + indexBytes, maxBytes: channels * (1 + 4 * MAX_PALETTE) + indexBytes };
}

/** Channels of the palette form of a tensor of shape `dims` with channel axis `axis`. */
export function paletteChannels(dims: readonly number[], axis: number | undefined): number {
  return axis === undefined ? 1 : (dims[axis] ?? 1);
}

/** The palette form of `values`, or undefined when some channel holds more than 256 distinct float32 values. */
export function toBytePalette(values: Float32Array, dims: readonly number[]): BytePaletteForm | undefined {
  // An empty tensor has no palette to send; f32 sends it in 0 bytes.
  if (values.length === 0) return undefined;
  const axis = paletteAxis(dims);
  const layout = layoutOf(dims, axis, values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const indices = new Uint8Array(values.length);
  const tables = Array.from({ length: layout.channels }, () => new Map<number, number>());
  for (let o = 0, i = 0; o < layout.outer; o++) {
    for (let c = 0; c < layout.channels; c++) {
      const table = tables[c]!;
      // Neighbouring pixels often repeat: remember the last value to skip most map lookups.
      let lastBits = -1;
      let lastIndex = 0;
      for (const end = i + layout.inner; i < end; i++) {
        const b = bits[i]!;
        if (b !== lastBits) {
          let index = table.get(b);
          if (index === undefined) {
            if (table.size === MAX_PALETTE) return undefined;
            index = table.size;
            table.set(b, index);
          }
          lastBits = b;
          lastIndex = index;
        }
        indices[i] = lastIndex;
      }
    }
  }
  // Sort each palette by value so its deltas are small, and renumber the indices to match.
  const palettes = tables.map((table) => sortedPalette(table));
  const paletteBytes = palettes.reduce((n, p) => n + 4 * p.keys.length, 0);
  const rows = rowsOf(dims, axis, values.length);
  const bytes = new Uint8Array(layout.channels + paletteBytes + filteredLength(values.length, rows));
  const view = new DataView(bytes.buffer);
  let at = layout.channels;
  palettes.forEach((p, c) => {
    bytes[c] = p.keys.length - 1;
    let previous = 0;
    for (const key of p.keys) {
      view.setUint32(at, (key - previous) >>> 0, true);
      previous = key;
      at += 4;
    }
  });
  // The ranks, pixel-interleaved as PNG stores pixels: the channels of one pixel side by side.
  const ranks = new Uint8Array(values.length);
  const { outer, channels, inner } = layout;
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const rank = palettes[c]!.rank;
      for (let j = 0, to = o * channels * inner + c; j < inner; j++, i++, to += channels)
        ranks[to] = rank[indices[i]!]!;
    }
  }
  filterRows(ranks, rows, bytes, at);
  return axis === undefined ? { bytes } : { bytes, axis };
}

/**
 * The float32 values of a palette form (already inflated) of shape `dims`: a problem text when its length or an index
 * does not agree with its palettes.
 */
export function fromBytePalette(
  bytes: Uint8Array,
  dims: readonly number[],
  axis: number | undefined,
): Float32Array | string {
  const count = dims.reduce((a, b) => a * b, 1);
  const layout = layoutOf(dims, axis, count);
  if (bytes.byteLength < layout.channels) return `palette form has ${bytes.byteLength} bytes, fewer than its channels`;
  const sizes = Array.from(bytes.subarray(0, layout.channels), (s) => s + 1);
  const rows = rowsOf(dims, axis, count);
  const expected = layout.channels + 4 * sizes.reduce((a, b) => a + b, 0) + filteredLength(count, rows);
  if (bytes.byteLength !== expected) {
    return `palette form has ${bytes.byteLength} bytes but its palettes and dims need ${expected}`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = layout.channels;
  const palettes = sizes.map((size) => {
    const palette = new Uint32Array(size);
    let key = 0;
    for (let k = 0; k < size; k++, at += 4) {
      key = (key + view.getUint32(at, true)) >>> 0;
      palette[k] = bitsFromKey(key);
    }
    return palette;
  });
  const ranks = unfilterRows(bytes, at, count, rows);
  if (typeof ranks === 'string') return ranks;
  const out = new Uint32Array(count);
  const { outer, channels, inner } = layout;
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const palette = palettes[c]!;
      for (let j = 0, from = o * channels * inner + c; j < inner; j++, i++, from += channels) {
        const value = palette[ranks[from]!];
        if (value === undefined)
          return `element ${i} indexes entry ${ranks[from]} of a ${palette.length}-entry palette`;
        out[i] = value;
      }
    }
  }
  return new Float32Array(out.buffer);
}

// Palette keys in ascending order, and for each first-seen index its rank in that order.
function sortedPalette(table: ReadonlyMap<number, number>): { keys: number[]; rank: Uint8Array } {
  const entries = [...table].map(([bits, index]) => ({ key: keyFromBits(bits), index }));
  entries.sort((a, b) => a.key - b.key);
  const rank = new Uint8Array(entries.length);
  entries.forEach((e, r) => (rank[e.index] = r));
  return { keys: entries.map((e) => e.key), rank };
}

// Maps float32 bits to an unsigned key that orders like the values (negatives reversed below positives), so the sorted
// keys of an affine map of bytes step by nearly constant amounts.
function keyFromBits(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

function bitsFromKey(key: number): number {
  return (key & 0x80000000 ? key & 0x7fffffff : ~key) >>> 0;
}

// Rows of the pixel-interleaved ranks: the image's width (the last spatial axis) times its channels, whose left
// neighbour in the same channel is `channels` bytes back.
function rowsOf(dims: readonly number[], axis: number | undefined, count: number): RowLayout {
  if (count === 0) return { length: 0, bpp: 1 };
  const last = dims.length - 1;
  const channels = paletteChannels(dims, axis);
  const width = axis !== undefined && axis === last ? (dims[last - 1] ?? 1) : last >= 0 ? dims[last]! : 1;
  return { length: width * channels, bpp: channels };
}

function layoutOf(dims: readonly number[], axis: number | undefined, count: number): Layout {
  if (axis === undefined || count === 0) return { outer: 1, channels: 1, inner: count };
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { outer: count / (channels * inner), channels, inner };
}
