import { encode as encodePng } from 'fast-png';
import { deflateSync } from 'fflate';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { estimateTensorBytes } from '../src/codecs.js';
import { ProtocolError } from '../src/protocol-error.js';
import { seededRandom } from '../src/seeded-random.js';
import { decodeTensor, encodeTensor } from '../src/tensor-codec.js';

// A 224×224 RGB image with smooth structure and pixel noise, as 8-bit pixels (HWC) and as the NCHW float input a
// torchvision model reads, (k / 255 - mean) / std per channel.
function imageFixture(seed: number) {
  const next = seededRandom(seed);
  const [h, w] = [224, 224];
  const rgb = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 128 + 60 * Math.sin(x / 17 + c) * Math.cos(y / 23) + 20 * (next() - 0.5);
        rgb[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const input = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < h * w; i++) input[c * h * w + i] = (rgb[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
  }
  return { rgb, input, dims: [1, 3, h, w], png: encodePng({ width: w, height: h, data: rgb, channels: 3, depth: 8 }) };
}

// A PNG file as libpng-style encoders write it: adaptive row filters, zlib level 9 (pngjs's defaults).
function filteredPng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Uint8Array {
  const colorType = channels === 1 ? 0 : 2;
  const png = new PNG({ width, height, colorType, inputHasAlpha: false });
  png.data = Buffer.from(pixels);
  return PNG.sync.write(png, { colorType, inputColorType: colorType });
}

// A 28×28 grey picture upsampled ×`scale` by bilinear interpolation, as k / 255: the bench's larger inputs.
function upsampledGrey(seed: number, scale: number) {
  const next = seededRandom(seed);
  const small = Float64Array.from({ length: 28 * 28 }, (_, i) => {
    const [x, y] = [i % 28, Math.floor(i / 28)];
    return Math.max(0, Math.min(255, 120 + 100 * Math.sin(x / 5) * Math.cos(y / 7) + 30 * (next() - 0.5)));
  });
  const side = 28 * scale;
  const pixels = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const [fx, fy] = [Math.min(27, x / scale), Math.min(27, y / scale)];
      const [x0, y0] = [Math.floor(fx), Math.floor(fy)];
      const [x1, y1] = [Math.min(27, x0 + 1), Math.min(27, y0 + 1)];
      const [tx, ty] = [fx - x0, fy - y0];
      const top = small[y0 * 28 + x0]! * (1 - tx) + small[y0 * 28 + x1]! * tx;
      const bottom = small[y1 * 28 + x0]! * (1 - tx) + small[y1 * 28 + x1]! * tx;
      pixels[y * side + x] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
  return { pixels, side, input: Float32Array.from(pixels, (p) => p / 255) };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

describe('u8-deflate', () => {
  it('sends a normalised 8-bit image exactly, in no more bytes than a PNG of it', () => {
    const { input, dims, png } = imageFixture(7);
    const encoded = encodeTensor('image', input, dims, 'u8-deflate');
    expect(encoded).toMatchObject({ encoding: 'u8-deflate', axis: 1 });
    expect(sameBits(decodeTensor(encoded).data, input)).toBe(true);
    console.log(
      `u8-deflate ${encoded.data.byteLength} B, PNG (fast-png) ${png.byteLength} B, f32 ${input.byteLength} B`,
    );
    expect(encoded.data.byteLength).toBeLessThanOrEqual(png.byteLength);
  });

  // The palette form is filtered as PNG filters, but fflate (pure JavaScript, for an isomorphic proto) codes noisy
  // residuals about 9% larger than zlib at level 9 does: on this noisy fixture u8-deflate is within 12% of a
  // libpng-style PNG, not below it.
  it('filters rows as PNG does: within 12% of a filtered PNG, for RGB as NCHW or NHWC and an upsampled grey image', () => {
    const { rgb, input, dims } = imageFixture(11);
    const png = filteredPng(rgb, 224, 224, 3);
    const nchw = encodeTensor('image', input, dims, 'u8-deflate');
    // The same pixels as NHWC: the encoder stores both pixel-interleaved, so both compress alike.
    const hwc = new Float32Array(input.length);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 224 * 224; i++) hwc[i * 3 + c] = input[c * 224 * 224 + i]!;
    const nhwc = encodeTensor('image', hwc, [1, 224, 224, 3], 'u8-deflate');
    expect(nhwc).toMatchObject({ encoding: 'u8-deflate', axis: 3 });
    expect(sameBits(decodeTensor(nchw).data, input)).toBe(true);
    expect(sameBits(decodeTensor(nhwc).data, hwc)).toBe(true);
    const grey = upsampledGrey(3, 4);
    const greyPng = filteredPng(grey.pixels, grey.side, grey.side, 1);
    const greyEncoded = encodeTensor('x', grey.input, [1, 1, grey.side, grey.side], 'u8-deflate');
    expect(sameBits(decodeTensor(greyEncoded).data, grey.input)).toBe(true);
    console.log(
      `filtered PNG vs u8-deflate: RGB ${png.byteLength} B vs ${nchw.data.byteLength} B (NCHW), ${nhwc.data.byteLength} B (NHWC); grey ${grey.side}² ${greyPng.byteLength} B vs ${greyEncoded.data.byteLength} B`,
    );
    expect(nchw.data.byteLength).toBeLessThanOrEqual(png.byteLength * 1.12);
    expect(nhwc.data.byteLength).toBeLessThanOrEqual(png.byteLength * 1.12);
    expect(greyEncoded.data.byteLength).toBeLessThanOrEqual(greyPng.byteLength * 1.12);
  });

  it('keeps k / 255 of a grey image exact, -0 included', () => {
    const values = Float32Array.from({ length: 28 * 28 }, (_, i) => (i % 200) / 255);
    values[3] = -0;
    const encoded = encodeTensor('x', values, [1, 1, 28, 28], 'u8-deflate');
    expect(encoded.encoding).toBe('u8-deflate');
    expect(sameBits(decodeTensor(encoded).data, values)).toBe(true);
  });

  it('falls back to exact f32 when a channel holds more than 256 distinct values', () => {
    const values = Float32Array.from({ length: 3 * 300 }, (_, i) => i / 7);
    const encoded = encodeTensor('x', values, [1, 3, 300], 'u8-deflate');
    expect(encoded.encoding).toBe('f32');
    expect(sameBits(decodeTensor(encoded).data, values)).toBe(true);
  });

  it('refuses an axis the encoder would not pick, and palettes that do not match the dims', () => {
    const good = encodeTensor(
      'x',
      Float32Array.from({ length: 12 }, (_, i) => i / 255),
      [1, 3, 2, 2],
      'u8-deflate',
    );
    expect(() => decodeTensor({ ...good, axis: 2 })).toThrow(/u8-deflate axis 2 must be 1/);
    expect(() => decodeTensor({ ...good, dims: [1, 3, 2, 3] })).toThrow(ProtocolError);
  });
});

describe('f16-deflate and int8-deflate', () => {
  const next = seededRandom(3);
  // ReLU-like activations: about half zeros, the rest smooth plus noise.
  const act = Float32Array.from({ length: 16 * 28 * 28 }, (_, i) =>
    Math.max(0, (next() - 0.5) * 3 + Math.sin(i / 200)),
  );
  const dims = [1, 16, 28, 28];

  it.each([
    ['f16-deflate', 'f16'],
    ['int8-deflate', 'int8'],
  ] as const)('%s decodes to exactly what %s decodes to, in fewer bytes', (codec, base) => {
    const compressed = encodeTensor('a', act, dims, codec);
    const plain = encodeTensor('a', act, dims, base);
    expect(sameBits(decodeTensor(compressed).data, decodeTensor(plain).data)).toBe(true);
    const ratio = compressed.data.byteLength / plain.data.byteLength;
    console.log(
      `${codec}: ${compressed.data.byteLength} B vs ${base} ${plain.data.byteLength} B (ratio ${ratio.toFixed(3)})`,
    );
    expect(ratio).toBeLessThan(1);
    expect(estimateTensorBytes(codec, act.length, ratio)).toBe(
      Math.ceil(plain.data.byteLength * ratio) + (codec === 'int8-deflate' ? 8 : 0),
    );
  });

  it('stops a deflate bomb at the size the dims declare', () => {
    // 64 MiB of zeros compresses to ~64 KiB; the dims declare 16 elements.
    const bomb = deflateSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    const tensor = { ...encodeTensor('a', new Float32Array(16), [16], 'int8-deflate'), data: bomb };
    expect(() => decodeTensor(tensor)).toThrow(/inflates to more than the 16 bytes its dims allow/);
    expect(() => decodeTensor({ ...tensor, encoding: 'f16-deflate', scale: undefined, zeroPoint: undefined })).toThrow(
      /more than the 32 bytes/,
    );
    expect(() => decodeTensor({ ...tensor, data: Uint8Array.of(1, 2, 3) })).toThrow(ProtocolError);
  });
});
