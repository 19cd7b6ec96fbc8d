// PNG and JPEG files to pixels, with pure-JS decoders (fast-png, jpeg-js), plus a header reader that tells an
// image's size and channels without decoding it, so a folder is checked before any long work starts.
import { decode as decodePng, convertIndexedToRgb } from 'fast-png';
import jpeg from 'jpeg-js';
import { DatasetError, DatasetErrorCode } from './idx-reader.js';

/** File name extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/** True when the file name has one of {@link IMAGE_EXTENSIONS}. */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** What an image file holds, from its header. */
export interface ImageHeader {
  readonly format: 'png' | 'jpeg';
  readonly width: number;
  readonly height: number;
  /** Channels as stored: 1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha (or CMYK JPEG). */
  readonly channels: number;
  /** True for colour (RGB, palette, CMYK), false for grey. */
  readonly colour: boolean;
}

/** Decoded pixels, row-major height × width × channels, values in [0, 255] (16-bit PNGs are scaled). */
export interface DecodedImage extends ImageHeader {
  readonly data: Float32Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function corrupt(source: string, what: string): never {
  throw new DatasetError(DatasetErrorCode.Corrupt, `${source}: ${what}`);
}

// PNG colour types: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA.
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function pngHeader(bytes: Uint8Array, source: string): ImageHeader {
  if (bytes.length < 26 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR')
    corrupt(source, 'PNG without an IHDR header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const colourType = bytes[25]!;
  const channels = PNG_CHANNELS[colourType];
  if (channels === undefined) corrupt(source, `PNG colour type ${colourType} is not defined`);
  return {
    format: 'png',
    width: view.getUint32(16),
    height: view.getUint32(20),
    channels,
    colour: colourType === 2 || colourType === 3 || colourType === 6,
  };
}

// Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** The JPEG header, or undefined when no start-of-frame marker is within `bytes` (a partial read). */
function jpegHeader(bytes: Uint8Array, source: string): ImageHeader | undefined {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) corrupt(source, `JPEG marker expected at byte ${at}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) corrupt(source, 'JPEG without a start-of-frame header');
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (isStartOfFrame(marker)) {
      if (at + 10 > bytes.length) return undefined;
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      const channels = bytes[at + 9]!;
      if (channels !== 1 && channels !== 3 && channels !== 4) corrupt(source, `JPEG with ${channels} components`);
      return { format: 'jpeg', width, height, channels, colour: channels !== 1 };
    }
    at += 2 + length;
  }
  return undefined;
}

/**
 * Reads an image's format, size and channels from its first bytes. Returns undefined when a JPEG's header lies
 * beyond them (read more and ask again); throws {@link DatasetError} for files that are not PNG or JPEG.
 */
export function readImageHeader(bytes: Uint8Array, source: string, complete = true): ImageHeader | undefined {
  if (isPng(bytes)) return pngHeader(bytes, source);
  if (isJpeg(bytes)) {
    const header = jpegHeader(bytes, source);
    if (header === undefined && complete) corrupt(source, 'JPEG without a start-of-frame header');
    return header;
  }
  throw new DatasetError(DatasetErrorCode.Unsupported, `${source}: not a PNG or JPEG file`);
}

/** Grey PNG rows of 1, 2 or 4 bits per pixel, unpacked and scaled to [0, 255]. */
function unpackGrey(data: ArrayLike<number>, width: number, height: number, depth: number): Float32Array {
  const out = new Float32Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)]!;
      out[y * width + x] = ((byte >> (8 - depth - (bit & 7))) & max) * (255 / max);
    }
  }
  return out;
}

function decodePngPixels(bytes: Uint8Array, source: string): DecodedImage {
  const header = pngHeader(bytes, source);
  const png = decodePng(bytes);
  let data: Float32Array;
  let channels = png.channels;
  if (png.palette !== undefined) {
    const rgb = convertIndexedToRgb(png);
    channels = png.palette[0]?.length ?? 3;
    data = Float32Array.from(rgb);
  } else if (png.depth < 8) {
    data = unpackGrey(png.data, png.width, png.height, png.depth);
  } else {
    const scale = png.depth === 16 ? 255 / 65535 : 1;
    data = Float32Array.from(png.data, (v) => v * scale);
  }
  return { ...header, channels, data };
}

function decodeJpegPixels(bytes: Uint8Array, source: string): DecodedImage {
  const header = jpegHeader(bytes, source);
  if (header === undefined) corrupt(source, 'JPEG without a start-of-frame header');
  // jpeg-js always gives RGB (grey replicated, CMYK converted); a grey JPEG is brought back to one channel.
  const rgb = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  const pixels = rgb.width * rgb.height;
  if (!header.colour) {
    return { ...header, channels: 1, data: Float32Array.from({ length: pixels }, (_, i) => rgb.data[i * 3]!) };
  }
  return { ...header, channels: 3, data: Float32Array.from(rgb.data) };
}

/** Decodes a PNG or JPEG file's bytes; `source` names it in messages. Throws {@link DatasetError} on bad data. */
export function decodeImage(bytes: Uint8Array, source: string): DecodedImage {
  try {
    if (isPng(bytes)) return decodePngPixels(bytes, source);
    if (isJpeg(bytes)) return decodeJpegPixels(bytes, source);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(DatasetErrorCode.Corrupt, `${source}: cannot decode (${(err as Error).message})`, {
      cause: err,
    });
  }
  throw new DatasetError(DatasetErrorCode.Unsupported, `${source}: not a PNG or JPEG file`);
}
