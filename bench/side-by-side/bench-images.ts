/**
 * The requests every strategy sends: real Fashion-MNIST t10k images, as the example model's 28×28 input, upscaled
 * to the heavier example's 96×96 grey input, or to a square RGB input for the random-weight and pretrained models
 * (mobilenet_v2 at 224, the PP-OCRv4 text detector at 256: only latency and bytes matter there). Upscaled images
 * are rounded to 8 bits, as a camera of that resolution delivers them. Each image also exists as a PNG file's
 * bytes, which is what an application would send to a cloud-only service.
 */
import { PNG } from 'pngjs';
import { imageTarget, loadMnistSplit, preprocessImage, type LabelledImages } from '@cleave/partitioner';

/** Side and channels of each input kind: `gray28` is the example model, `gray96` the heavier one. */
const KINDS = {
  gray28: { side: 28, channels: 1 },
  gray96: { side: 96, channels: 1 },
  rgb224: { side: 224, channels: 3 },
  rgb256: { side: 256, channels: 3 },
} as const;
/** How a model wants its input. */
export type InputKind = keyof typeof KINDS;

/** One request's input. */
export interface BenchImage {
  readonly tensor: Float32Array;
  readonly dims: readonly number[];
  readonly png: Uint8Array;
  readonly label: number;
}

let t10k: Promise<LabelledImages> | undefined;

/** Side of the square image for a kind. */
export function sideOf(kind: InputKind): number {
  return KINDS[kind].side;
}

/** Channels of the image for a kind. */
export function channelsOf(kind: InputKind): number {
  return KINDS[kind].channels;
}

/** 8-bit pixels (HWC) of t10k image `index` for `kind`: the original, or a bilinear upscale (grey or RGB). */
function pixelsOf(data: LabelledImages, index: number, kind: InputKind): Uint8Array {
  const size = data.width * data.height;
  const original = data.pixels.subarray(index * size, (index + 1) * size);
  if (kind === 'gray28') return original;
  // The heavier example was trained on PyTorch's bilinear upsampling (half-pixel centres); the calibration
  // pipeline's resize gives the same values (models/fmnist-heavy/README.md).
  if (kind === 'gray96') {
    const image = {
      format: 'png' as const,
      width: data.width,
      height: data.height,
      channels: 1,
      colour: false,
      data: Float32Array.from(original),
    };
    const sample = preprocessImage(
      image,
      imageTarget([1, 1, 96, 96], { resize: 96 }),
      { resize: 96, scale: 1 },
      't10k',
    );
    return Uint8Array.from(sample, (v) => Math.min(255, Math.max(0, Math.round(v))));
  }
  const side = sideOf(kind);
  const channels = channelsOf(kind);
  const out = new Uint8Array(side * side * channels);
  const scale = (data.width - 1) / (side - 1);
  for (let y = 0; y < side; y++) {
    const fy = y * scale;
    const y0 = Math.floor(fy);
    const y1 = Math.min(data.height - 1, y0 + 1);
    for (let x = 0; x < side; x++) {
      const fx = x * scale;
      const x0 = Math.floor(fx);
      const x1 = Math.min(data.width - 1, x0 + 1);
      const at = (yy: number, xx: number) => original[yy * data.width + xx]!;
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * (fx - x0);
      const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * (fx - x0);
      const v = Math.round(top + (bottom - top) * (fy - y0));
      out.fill(v, (y * side + x) * channels, (y * side + x + 1) * channels);
    }
  }
  return out;
}

/** Encodes HWC 8-bit pixels as a PNG file (grayscale or RGB, no alpha). */
export function encodePng(pixels: Uint8Array, side: number, channels: number): Uint8Array {
  const png = new PNG({ width: side, height: side, colorType: channels === 1 ? 0 : 2, inputHasAlpha: false });
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return new Uint8Array(
    PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2 }),
  );
}

/** Decodes a PNG file into the model's NCHW float input in [0, 1] (what the cloud-only PNG service does). */
export function decodePngToTensor(file: Uint8Array, kind: InputKind): Float32Array {
  const png = PNG.sync.read(Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  const side = sideOf(kind);
  const channels = channelsOf(kind);
  if (png.width !== side || png.height !== side)
    throw new RangeError(`PNG is ${png.width}×${png.height}, want ${side}`);
  // pngjs always decodes to RGBA.
  const plane = side * side;
  const out = new Float32Array(plane * channels);
  for (let i = 0; i < plane; i++) for (let c = 0; c < channels; c++) out[c * plane + i] = png.data[i * 4 + c]! / 255;
  return out;
}

/** HWC 8-bit pixels → NCHW float in [0, 1]. */
function toTensor(pixels: Uint8Array, side: number, channels: number): Float32Array {
  const plane = side * side;
  const out = new Float32Array(plane * channels);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < channels; c++) out[c * plane + i] = pixels[i * channels + c]! / 255;
  return out;
}

/** `n` t10k images from `offset` (wrapping around the 10,000), as tensors and PNG files. */
export async function loadBenchImages(kind: InputKind, offset: number, n: number): Promise<BenchImage[]> {
  t10k ??= loadMnistSplit('t10k');
  const data = await t10k;
  const side = sideOf(kind);
  const channels = channelsOf(kind);
  return Array.from({ length: n }, (_, i) => {
    const index = (offset + i) % data.count;
    const pixels = pixelsOf(data, index, kind);
    return {
      tensor: toTensor(pixels, side, channels),
      dims: [1, channels, side, side],
      png: encodePng(pixels, side, channels),
      label: data.labels[index]!,
    };
  });
}
