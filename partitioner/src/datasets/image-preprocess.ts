// Image preprocessing for calibration, torchvision-style: channels, resize of the shorter side (bilinear with
// antialiasing, as PIL does it), centre crop, scale, mean/std normalisation, and the model's layout.
import { DatasetError, DatasetErrorCode } from './idx-reader.js';
import type { DecodedImage, ImageHeader } from './image-decode.js';

/** Channel order fed to the model. `gray` converts colour with ITU-R 601-2 luma (as PIL's "L"). */
export type ChannelOrder = 'rgb' | 'bgr' | 'gray';
/** Where the model input keeps its channels. */
export type InputLayout = 'nchw' | 'nhwc';

/** Preprocessing options of a calibration set (the CLI's --calib-* flags). */
export interface CalibrationPreprocess {
  /** Resize so that the shorter side has this many pixels (bilinear). @default resize straight to the model's H × W */
  readonly resize?: number;
  /** Centre crop [H, W] after resizing. @default the model's H × W */
  readonly crop?: readonly [number, number];
  /** Per-channel mean subtracted after scaling (one value, or one per channel). */
  readonly mean?: readonly number[];
  /** Per-channel standard deviation divided by after the mean (one value, or one per channel). */
  readonly std?: readonly number[];
  /** Divide values by this first. @default 255 for images, 1 for arrays */
  readonly scale?: number;
  /** @default rgb for 3-channel models; gray for 1-channel models fed grey images */
  readonly channels?: ChannelOrder;
  /** @default nchw, unless the input is [N, H, W, C] with C = 1 or 3 and dim 1 is not */
  readonly layout?: InputLayout;
}

/** True when any preprocessing option is set. */
export function hasPreprocessing(p: CalibrationPreprocess | undefined): boolean {
  return p !== undefined && Object.values(p).some((v) => v !== undefined);
}

/** What one preprocessed sample looks like: the model input without its batch dim. */
export interface ImageTarget {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly layout: InputLayout;
  /** [C, H, W] or [H, W, C]. */
  readonly sampleShape: readonly number[];
}

type Shape = readonly (number | string | null)[];

function shapeText(shape: Shape): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}

function badOption(message: string): never {
  throw new DatasetError(DatasetErrorCode.BadOption, message);
}

/** The layout of a 4-D image input: the option, else guessed from where a 1- or 3-sized dim sits. */
export function inputLayout(shape: Shape, preprocess: CalibrationPreprocess = {}): InputLayout {
  if (preprocess.layout !== undefined) return preprocess.layout;
  const isChannels = (d: unknown): boolean => d === 1 || d === 3;
  return !isChannels(shape[1]) && isChannels(shape[3]) ? 'nhwc' : 'nchw';
}

/**
 * The sample images must become for a model input `shape` ([N, C, H, W] or [N, H, W, C]). Throws a one-line
 * {@link DatasetError} when the input is not an image, when its size is symbolic and no --calib-crop fixes it, or
 * when --calib-crop differs from a fixed model size.
 */
export function imageTarget(
  shape: Shape,
  preprocess: CalibrationPreprocess = {},
  source = 'the calibration set',
): ImageTarget {
  if (shape.length !== 4) {
    throw new DatasetError(
      DatasetErrorCode.Shape,
      `${source}: images feed 4-D image inputs, but the model input is ${shapeText(shape)}; give a .npy of inputs instead`,
    );
  }
  const layout = inputLayout(shape, preprocess);
  const [c, h, w] = layout === 'nchw' ? [shape[1], shape[2], shape[3]] : [shape[3], shape[1], shape[2]];
  if (c !== 1 && c !== 3) {
    throw new DatasetError(
      DatasetErrorCode.Channels,
      `${source}: images feed models with 1 or 3 input channels, but the model input is ${shapeText(shape)} (${layout}${preprocess.layout === undefined ? ', guessed; set --calib-layout' : ''})`,
    );
  }
  let height: number;
  let width: number;
  if (typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0) {
    [height, width] = [h, w];
    if (preprocess.crop !== undefined && (preprocess.crop[0] !== h || preprocess.crop[1] !== w)) {
      badOption(
        `--calib-crop ${preprocess.crop.join('x')} gives ${preprocess.crop.join('×')} samples, but the model input is ${shapeText(shape)}`,
      );
    }
  } else if (preprocess.crop !== undefined) {
    [height, width] = preprocess.crop;
  } else {
    badOption(`the model input ${shapeText(shape)} has no fixed size: pass --calib-crop HxW (and --calib-resize N)`);
  }
  const count = (v: readonly number[] | undefined, flag: string) => {
    if (v !== undefined && v.length !== 1 && v.length !== c) {
      badOption(`${flag} has ${v.length} values, but the model input has ${c} channels ${shapeText(shape)}`);
    }
  };
  count(preprocess.mean, '--calib-mean');
  count(preprocess.std, '--calib-std');
  if (preprocess.std?.some((s) => s === 0)) badOption('--calib-std must not contain 0');
  if (preprocess.channels === 'gray' && c === 3) {
    badOption(`--calib-channels gray gives 1 channel, but the model input has 3 ${shapeText(shape)}`);
  }
  if (preprocess.channels !== undefined && preprocess.channels !== 'gray' && c === 1) {
    badOption(
      `--calib-channels ${preprocess.channels} gives 3 channels, but the model input has 1 ${shapeText(shape)}`,
    );
  }
  return {
    channels: c,
    height,
    width,
    layout,
    sampleShape: layout === 'nchw' ? [c, height, width] : [height, width, c],
  };
}

/**
 * Checks that an image (by its header) can be converted to the target: grey images are replicated for 3-channel
 * models and alpha is dropped silently, but a colour image for a 1-channel model needs --calib-channels gray.
 */
export function checkImageFits(
  header: ImageHeader,
  target: ImageTarget,
  preprocess: CalibrationPreprocess,
  source: string,
): void {
  if (target.channels === 1 && header.colour && preprocess.channels !== 'gray') {
    throw new DatasetError(
      DatasetErrorCode.Channels,
      `${source}: colour image (${header.channels} channels), but the model input has 1 channel; pass --calib-channels gray to convert colour to grey`,
    );
  }
  if (preprocess.resize === undefined && preprocess.crop !== undefined) {
    if (header.height < target.height || header.width < target.width) {
      throw new DatasetError(
        DatasetErrorCode.Shape,
        `${source}: ${header.width}×${header.height} image is smaller than --calib-crop ${target.height}x${target.width}; add --calib-resize N`,
      );
    }
  }
}

/** Pixels as 1 (grey) or 3 (R, G, B) channels, row-major H × W × C. Alpha is dropped, grey replicated. */
function toChannels(image: DecodedImage, want: 1 | 3): Float32Array {
  const pixels = image.width * image.height;
  const c = image.channels;
  const out = new Float32Array(pixels * want);
  for (let i = 0; i < pixels; i++) {
    const at = i * c;
    if (c <= 2) {
      const g = image.data[at]!;
      if (want === 1) out[i] = g;
      else out.fill(g, i * 3, i * 3 + 3);
    } else if (want === 1) {
      out[i] = (image.data[at]! * 299 + image.data[at + 1]! * 587 + image.data[at + 2]! * 114) / 1000;
    } else {
      out[i * 3] = image.data[at]!;
      out[i * 3 + 1] = image.data[at + 1]!;
      out[i * 3 + 2] = image.data[at + 2]!;
    }
  }
  return out;
}

/** Resampling weights along one axis: PIL's bilinear (triangle) filter, widened when shrinking (antialiasing). */
function axisWeights(
  inSize: number,
  outSize: number,
): { start: Int32Array; count: Int32Array; weights: Float64Array; k: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const k = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * k);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const from = Math.max(0, Math.trunc(centre - support + 0.5));
    const to = Math.min(inSize, Math.trunc(centre + support + 0.5));
    let total = 0;
    for (let x = from; x < to; x++) {
      const d = Math.abs((x - centre + 0.5) / filterScale);
      const w = d < 1 ? 1 - d : 0;
      weights[o * k + x - from] = w;
      total += w;
    }
    for (let x = from; x < to; x++) weights[o * k + x - from]! /= total || 1;
    start[o] = from;
    count[o] = to - from;
  }
  return { start, count, weights, k };
}

/** Bilinear (antialiased) resize of an H × W × C image. */
export function resizeBilinear(
  src: Float32Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  if (height === outHeight && width === outWidth) return src;
  const horizontal = axisWeights(width, outWidth);
  const mid = new Float32Array(height * outWidth * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const from = horizontal.start[x]!;
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let i = 0; i < horizontal.count[x]!; i++) {
          acc += horizontal.weights[x * horizontal.k + i]! * src[(y * width + from + i) * channels + c]!;
        }
        mid[(y * outWidth + x) * channels + c] = acc;
      }
    }
  }
  const vertical = axisWeights(height, outHeight);
  const out = new Float32Array(outHeight * outWidth * channels);
  for (let y = 0; y < outHeight; y++) {
    const from = vertical.start[y]!;
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let i = 0; i < vertical.count[y]!; i++) {
          acc += vertical.weights[y * vertical.k + i]! * mid[((from + i) * outWidth + x) * channels + c]!;
        }
        out[(y * outWidth + x) * channels + c] = acc;
      }
    }
  }
  return out;
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The size torchvision's Resize(n) gives: the shorter side n, the longer one scaled and truncated. */
export function shorterSideSize(height: number, width: number, n: number): [number, number] {
  return height <= width ? [n, Math.trunc((n * width) / height)] : [Math.trunc((n * height) / width), n];
}

/**
 * One decoded image to one model sample: channels, resize, centre crop, value / scale, (value − mean) / std, then
 * the target layout. `scale` defaults to 255 (pixels to [0, 1]).
 */
export function preprocessImage(
  image: DecodedImage,
  target: ImageTarget,
  preprocess: CalibrationPreprocess,
  source: string,
): Float32Array {
  checkImageFits(image, target, preprocess, source);
  const want = target.channels as 1 | 3;
  let pixels = toChannels(image, want);
  let [h, w] = [image.height, image.width];
  if (preprocess.resize !== undefined) {
    const [rh, rw] = shorterSideSize(h, w, preprocess.resize);
    pixels = resizeBilinear(pixels, h, w, want, rh, rw);
    [h, w] = [rh, rw];
  } else if (preprocess.crop === undefined) {
    pixels = resizeBilinear(pixels, h, w, want, target.height, target.width);
    [h, w] = [target.height, target.width];
  }
  if (h < target.height || w < target.width) {
    throw new DatasetError(
      DatasetErrorCode.Shape,
      `${source}: after --calib-resize ${preprocess.resize} the image is ${w}×${h}, smaller than the ${target.height}×${target.width} crop`,
    );
  }
  const top = roundHalfEven((h - target.height) / 2);
  const left = roundHalfEven((w - target.width) / 2);
  const scale = preprocess.scale ?? 255;
  const mean = preprocess.mean ?? [0];
  const std = preprocess.std ?? [1];
  const bgr = preprocess.channels === 'bgr';
  const plane = target.height * target.width;
  const out = new Float32Array(plane * want);
  for (let y = 0; y < target.height; y++) {
    for (let x = 0; x < target.width; x++) {
      const from = ((top + y) * w + left + x) * want;
      for (let c = 0; c < want; c++) {
        const value = pixels[from + (bgr ? 2 - c : c)]! / scale;
        const normalised = (value - mean[mean.length === 1 ? 0 : c]!) / std[std.length === 1 ? 0 : c]!;
        const p = y * target.width + x;
        out[target.layout === 'nchw' ? c * plane + p : p * want + c] = normalised;
      }
    }
  }
  return out;
}
