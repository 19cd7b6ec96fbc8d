// Writers for the calibration data users bring, so suites can build folders and arrays on the fly: PNG and JPEG
// through the same maintained codecs the partitioner decodes with, and NumPy's .npy format (v1.0, little-endian,
// C order), which is small enough to write by its spec.
import { encode as encodePngImage } from 'fast-png';
import jpeg from 'jpeg-js';

/** An 8-bit PNG of interleaved pixels: 1 channel (grey) or 3 (RGB). */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Uint8Array {
  return encodePngImage({ width, height, data: pixels, channels, depth: 8 });
}

/** A baseline JPEG (quality 90) of interleaved RGB pixels. */
export function encodeJpeg(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4).fill(255);
  for (let p = 0; p < width * height; p++) rgba.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
  return new Uint8Array(jpeg.encode({ width, height, data: rgba }, 90).data);
}

/** A .npy file (v1.0) of float32 or int64 elements in C order, its header padded to a multiple of 64 bytes. */
export function encodeNpy(descr: '<f4' | '<i8', shape: readonly number[], data: Float32Array | BigInt64Array): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}
