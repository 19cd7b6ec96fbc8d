// One entry for every calibration source, chosen by path: a directory of MNIST-layout IDX files (as before), a
// folder of images (ImageFolder layout, or flat and unlabelled), a .npy of inputs (with an optional .npy of
// labels), a .npz with inputs and labels, or an IDX images file with an IDX labels file.
import { readdir, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  asCalibrationData,
  type CalibrationData,
  fromLabelledImages,
  inMemoryCalibration,
  isLabelledImages,
  lazyCalibration,
} from './calibration-data.js';
import { DatasetError, DatasetErrorCode, readIdxFile } from './idx-reader.js';
import { loadImageFolder } from './image-folder.js';
import {
  type CalibrationPreprocess,
  hasPreprocessing,
  imageTarget,
  inputLayout,
  preprocessImage,
} from './image-preprocess.js';
import { type LabelledImages, loadIdxImagesWithLabels, loadMnistSplit, type MnistSplit } from './labelled-images.js';
import { type NpyArray, readNpyFile, readNpzFile } from './npy-reader.js';

/** Label values of segmentation label maps that mark pixels to ignore (VOC's 255 "void", and -1). */
export const IGNORED_LABELS: readonly number[] = [255, -1];

/** Where a calibration set is, and how to read it, before the model's input is known. */
export interface CalibrationSource {
  readonly path: string;
  /** A .npy (or IDX) file of labels for a .npy (or IDX) file of inputs. */
  readonly labelsPath?: string;
  /** Which split of an IDX directory. @default 'train' */
  readonly split?: MnistSplit;
  readonly preprocess?: CalibrationPreprocess;
}

/** A calibration set loaded, in the MNIST layout, or still to be loaded from a {@link CalibrationSource}. */
export type CalibrationInput = CalibrationData | LabelledImages | CalibrationSource;

/** The model input a calibration set must fit, as in the ONNX model or the manifest. */
export interface InputSpecLike {
  readonly name?: string;
  readonly dtype: string;
  readonly shape: readonly (number | string | null)[];
}

/** Options for {@link loadCalibrationSet}. */
export interface LoadCalibrationOptions {
  /** The model input: samples come out shaped exactly like it (without the batch dim). */
  readonly inputSpec: InputSpecLike;
  readonly labelsPath?: string;
  readonly preprocess?: CalibrationPreprocess;
  /** Classes of the model's output, to reject labels outside them before any inference. */
  readonly classes?: number;
  /** Which split of an IDX directory. @default 'train' */
  readonly split?: MnistSplit;
  /** Seed of the image folder shuffle. @default 1 */
  readonly seed?: number;
}

type Shape = readonly (number | string | null)[];

function shapeText(shape: Shape): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}

/** True for a {@link CalibrationSource} (not yet loaded). */
export function isCalibrationSource(input: CalibrationInput): input is CalibrationSource {
  return 'path' in input && !('readBatch' in input) && !('pixels' in input);
}

/** Short description of a source for the manifest and logs: its path, split and labels file when given. */
export function describeCalibrationSource(source: CalibrationSource): string {
  return [source.path, source.split, source.labelsPath].filter((s) => s !== undefined).join(' ');
}

/** True for a directory holding MNIST-layout IDX image files (`*-idx3-ubyte[.gz]`). */
export async function isIdxDirectory(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => /-idx3-ubyte(\.gz)?$/.test(n));
}

function imageOnlyFlags(preprocess: CalibrationPreprocess, path: string): void {
  const flags = [
    preprocess.resize !== undefined ? '--calib-resize' : undefined,
    preprocess.crop !== undefined ? '--calib-crop' : undefined,
    preprocess.channels !== undefined ? '--calib-channels' : undefined,
  ].filter((f) => f !== undefined);
  if (flags.length > 0) {
    throw new DatasetError(
      DatasetErrorCode.BadOption,
      `${flags.join(', ')} apply to image folders and IDX images; ${path} is used as it is (save it at the model's input size)`,
    );
  }
}

/** IDX images run through the image pipeline (resize, channels, normalisation) when any --calib-* flag is set. */
function preprocessedIdx(
  data: LabelledImages,
  source: string,
  options: LoadCalibrationOptions,
  labelled: boolean,
): CalibrationData {
  const preprocess = options.preprocess ?? {};
  const target = imageTarget(options.inputSpec.shape, preprocess, source);
  const size = target.sampleShape.reduce((a, b) => a * b, 1);
  const pixels = data.height * data.width;
  return lazyCalibration({
    count: data.count,
    sampleShape: target.sampleShape,
    labels: labelled ? Int32Array.from(data.labels) : undefined,
    source,
    read(indices) {
      const out = new Float32Array(indices.length * size);
      indices.forEach((index, k) => {
        const image = {
          format: 'png' as const,
          width: data.width,
          height: data.height,
          channels: 1,
          colour: false,
          data: Float32Array.from(data.pixels.subarray(index * pixels, (index + 1) * pixels)),
        };
        out.set(preprocessImage(image, target, preprocess, `${source} image ${index}`), k * size);
      });
      return Promise.resolve(out);
    },
  });
}

function idxSet(
  data: LabelledImages,
  source: string,
  options: LoadCalibrationOptions,
  labelled = true,
): CalibrationData {
  // Without preprocessing flags an IDX set stays exactly what it always was: [1, H, W] in [0, 1]; whether it fits
  // the model is checked (with the historical messages) where exits are trained and calibrated.
  if (hasPreprocessing(options.preprocess)) return preprocessedIdx(data, source, options, labelled);
  if (labelled) return fromLabelledImages(data, source);
  return inMemoryCalibration({ samples: data.pixels, sampleShape: [1, data.height, data.width], source });
}

function matches(actual: readonly number[], wanted: Shape): boolean {
  return actual.length === wanted.length && actual.every((d, i) => typeof wanted[i] !== 'number' || wanted[i] === d);
}

/** Float32 samples of a .npy inputs array, shaped like the model input: as stored, transposed, or given a channel. */
function arraySamples(
  array: NpyArray,
  path: string,
  options: LoadCalibrationOptions,
): { samples: Float32Array; sampleShape: number[] } {
  const preprocess = options.preprocess ?? {};
  imageOnlyFlags(preprocess, path);
  if (array.dtype !== 'float32' && array.dtype !== 'float64' && array.dtype !== 'uint8') {
    throw new DatasetError(
      DatasetErrorCode.Unsupported,
      `${path}: inputs are ${array.dtype}; calibration reads float32, float64 or uint8 inputs`,
    );
  }
  const model = options.inputSpec.shape;
  const wanted = model.slice(1);
  const [n = 0, ...rest] = array.shape;
  let order: number[] | undefined; // source axis for each sample axis
  let sampleShape: number[];
  const layout = model.length === 4 ? inputLayout(model, preprocess) : 'nchw';
  if (matches(rest, wanted)) {
    sampleShape = rest;
  } else if (model.length === 4 && rest.length === 3 && matches([rest[2]!, rest[0]!, rest[1]!], wanted)) {
    sampleShape = [rest[2]!, rest[0]!, rest[1]!];
    order = [2, 0, 1]; // an [N, H, W, C] array for an NCHW model
  } else if (model.length === 4 && rest.length === 3 && matches([rest[1]!, rest[2]!, rest[0]!], wanted)) {
    sampleShape = [rest[1]!, rest[2]!, rest[0]!];
    order = [1, 2, 0]; // an [N, C, H, W] array for an NHWC model
  } else if (model.length === 4 && rest.length === 2) {
    sampleShape = layout === 'nchw' ? [1, ...rest] : [...rest, 1];
    if (!matches(sampleShape, wanted)) sampleShape = [];
  } else {
    sampleShape = [];
  }
  if (sampleShape.length === 0) {
    throw new DatasetError(
      DatasetErrorCode.Shape,
      `${path}: inputs are ${shapeText(array.shape)}, but the model input is ${shapeText(model)}; arrays are not resized, so save them at the model's input shape`,
    );
  }
  if (n === 0) throw new DatasetError(DatasetErrorCode.Empty, `${path}: no samples (shape ${shapeText(array.shape)})`);
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const samples = new Float32Array(n * size);
  const scale = preprocess.scale ?? 1;
  const channelAxis = model.length === 4 ? (layout === 'nchw' ? 0 : 2) : -1;
  const channels = channelAxis < 0 ? 1 : sampleShape[channelAxis]!;
  for (const [flag, values] of [
    ['--calib-mean', preprocess.mean],
    ['--calib-std', preprocess.std],
  ] as const) {
    if (values !== undefined && values.length !== 1 && values.length !== channels) {
      throw new DatasetError(
        DatasetErrorCode.BadOption,
        `${flag} has ${values.length} values, but ${path} has ${channels} channels for the model input ${shapeText(model)}`,
      );
    }
  }
  const mean = preprocess.mean ?? [0];
  const std = preprocess.std ?? [1];
  // Strides of the stored sample, and of the sample axes in stored order.
  const stored = order === undefined ? sampleShape : rest;
  const storedStrides = stored.map((_, i) => stored.slice(i + 1).reduce((a, b) => a * b, 1));
  const axisStride = order === undefined ? storedStrides : order.map((a) => storedStrides[a]!);
  const idx = new Array<number>(sampleShape.length).fill(0);
  for (let s = 0; s < n; s++) {
    idx.fill(0);
    for (let i = 0; i < size; i++) {
      let from = s * size;
      for (let a = 0; a < idx.length; a++) from += idx[a]! * axisStride[a]!;
      const c = channelAxis < 0 ? 0 : idx[channelAxis]!;
      const value = array.data[from]! / scale;
      if (!Number.isFinite(value)) {
        throw new DatasetError(
          DatasetErrorCode.Corrupt,
          `${path}: sample ${s} holds ${array.data[from]}; inputs must be finite numbers`,
        );
      }
      samples[s * size + i] = (value - mean[mean.length === 1 ? 0 : c]!) / std[std.length === 1 ? 0 : c]!;
      for (let a = idx.length - 1; a >= 0; a--) {
        if (++idx[a]! < sampleShape[a]!) break;
        idx[a] = 0;
      }
    }
  }
  return { samples, sampleShape };
}

/** Integer labels of a .npy array: [N] class indices, or [N, H, W] class maps (255 and -1 ignored). */
function arrayLabels(
  array: NpyArray,
  path: string,
  count: number,
  inputsPath: string,
  classes: number | undefined,
): { labels: Int32Array; labelShape: number[] } {
  if (array.shape.length !== 1 && array.shape.length !== 3) {
    throw new DatasetError(
      DatasetErrorCode.Shape,
      `${path}: labels are ${shapeText(array.shape)}; expected [N] class indices or [N, H, W] class maps`,
    );
  }
  if (array.shape[0] !== count) {
    throw new DatasetError(
      DatasetErrorCode.Mismatch,
      `${path}: ${array.shape[0]} labels for ${count} inputs in ${inputsPath}`,
    );
  }
  const labels = new Int32Array(array.data.length);
  const maps = array.shape.length === 3;
  for (let i = 0; i < labels.length; i++) {
    const v = array.data[i]!;
    if (!Number.isInteger(v)) {
      throw new DatasetError(DatasetErrorCode.Corrupt, `${path}: label ${v} at ${i} is not a whole number`);
    }
    const ignored = maps && IGNORED_LABELS.includes(v);
    if (!ignored && (v < 0 || (classes !== undefined && v >= classes))) {
      throw new DatasetError(
        DatasetErrorCode.LabelRange,
        v < 0
          ? `${path}: label ${v} is negative`
          : `${path}: label ${v}, but the model's outputs have only ${classes} classes${maps ? ' (255 and -1 mark ignored pixels)' : ''}`,
      );
    }
    labels[i] = v;
  }
  return { labels, labelShape: array.shape.slice(1) };
}

function arraySet(
  inputs: NpyArray,
  inputsPath: string,
  labels: NpyArray | undefined,
  labelsPath: string | undefined,
  options: LoadCalibrationOptions,
): CalibrationData {
  const { samples, sampleShape } = arraySamples(inputs, inputsPath, options);
  const count = inputs.shape[0]!;
  const labelled =
    labels === undefined ? undefined : arrayLabels(labels, labelsPath!, count, inputsPath, options.classes);
  return inMemoryCalibration({
    samples,
    sampleShape,
    labels: labelled?.labels,
    labelShape: labelled?.labelShape ?? [],
    source: [inputsPath, labelsPath].filter((s) => s !== undefined).join(' + '),
  });
}

const INPUT_NAMES = ['x', 'inputs', 'input', 'X', 'data'];
const LABEL_NAMES = ['y', 'labels', 'label', 'Y', 'targets'];

async function npzSet(path: string, options: LoadCalibrationOptions): Promise<CalibrationData> {
  const arrays = await readNpzFile(path);
  const names = [...arrays.keys()];
  const labelName = LABEL_NAMES.find((n) => arrays.has(n));
  const inputName =
    INPUT_NAMES.find((n) => arrays.has(n)) ??
    (names.length === 1 || (names.length === 2 && labelName) ? names.find((n) => n !== labelName) : undefined);
  if (inputName === undefined) {
    throw new DatasetError(
      DatasetErrorCode.Mismatch,
      `${path}: no inputs array: name it 'x' or 'inputs' (and labels 'y' or 'labels'); the archive has ${names.length === 0 ? 'no arrays' : names.join(', ')}`,
    );
  }
  if (labelName !== undefined && options.labelsPath !== undefined) {
    throw new DatasetError(
      DatasetErrorCode.BadOption,
      `${path} has labels ('${labelName}') and --calib-labels ${options.labelsPath} gives others; use one`,
    );
  }
  const labels =
    labelName !== undefined
      ? arrays.get(labelName)
      : options.labelsPath !== undefined
        ? await readNpyFile(options.labelsPath)
        : undefined;
  const labelsPath = labelName !== undefined ? `${path}:${labelName}` : options.labelsPath;
  return arraySet(arrays.get(inputName)!, `${path}:${inputName}`, labels, labelsPath, options);
}

/**
 * Loads a calibration set shaped like `options.inputSpec` from `path`:
 * - a directory of MNIST-layout IDX files (`--calib-split`): unchanged, [1, H, W] in [0, 1], unless preprocessing
 *   flags ask for resizing or normalisation;
 * - a folder of PNG/JPEG images: class subfolders are labels (sorted), a flat folder is unlabelled; images are
 *   resized (shorter side, bilinear) and centre-cropped to the model's H × W, scaled (÷255 by default) and
 *   normalised;
 * - a `.npy` of inputs (float32, float64 → float32, uint8 as values unless --calib-scale) with an optional `.npy`
 *   of labels (`labelsPath`: [N] classes or [N, H, W] class maps), or a `.npz` with `x`/`inputs` and `y`/`labels`;
 * - an IDX images file with an IDX labels file (`labelsPath`).
 * Every problem is a one-line {@link DatasetError} naming the file or flag.
 */
export async function loadCalibrationSet(path: string, options: LoadCalibrationOptions): Promise<CalibrationData> {
  if (options.inputSpec.dtype !== 'float32') {
    throw new DatasetError(
      DatasetErrorCode.Unsupported,
      `${path}: calibration feeds float32 inputs, but the model input${options.inputSpec.name ? ` '${options.inputSpec.name}'` : ''} is ${options.inputSpec.dtype}`,
    );
  }
  let kind;
  try {
    kind = await stat(path);
  } catch (err) {
    throw new DatasetError(DatasetErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (kind.isDirectory()) {
    if (await isIdxDirectory(path)) {
      if (options.labelsPath !== undefined) {
        throw new DatasetError(
          DatasetErrorCode.BadOption,
          `--calib-labels does not apply to the IDX directory ${path}`,
        );
      }
      const split = options.split ?? 'train';
      return idxSet(await loadMnistSplit(split, path), `${path} ${split}`, options);
    }
    if (options.labelsPath !== undefined) {
      throw new DatasetError(
        DatasetErrorCode.BadOption,
        `--calib-labels does not apply to the image folder ${path}: its labels are its class subfolders`,
      );
    }
    return loadImageFolder(path, {
      inputShape: options.inputSpec.shape,
      ...(options.preprocess ? { preprocess: options.preprocess } : {}),
      ...(options.classes !== undefined ? { classes: options.classes } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    });
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') {
    const [inputs, labels] = await Promise.all([
      readNpyFile(path),
      options.labelsPath === undefined ? undefined : readNpyFile(options.labelsPath),
    ]);
    return arraySet(inputs, path, labels, options.labelsPath, options);
  }
  if (ext === '.npz') return npzSet(path, options);
  // Anything else must be an IDX images file, with its IDX labels file.
  const images = await readIdxFile(path).catch((err: unknown) => {
    if (err instanceof DatasetError && err.code === DatasetErrorCode.BadMagic) {
      throw new DatasetError(
        DatasetErrorCode.Unsupported,
        `${path}: not a calibration set: expected a folder of images (class subfolders, or flat for unlabelled), a .npy or .npz file, or MNIST-layout IDX files`,
      );
    }
    throw err;
  });
  if (options.labelsPath === undefined) {
    if (images.dtype !== 'uint8' || images.dims.length !== 3) {
      throw new DatasetError(
        DatasetErrorCode.Mismatch,
        `${path}: expected uint8 images of 3 dims [N, H, W], got ${images.dtype} [${images.dims.join(', ')}]`,
      );
    }
    const [count = 0, height = 0, width = 0] = images.dims;
    const data: LabelledImages = {
      pixels: images.data as Uint8Array,
      labels: new Uint8Array(count),
      count,
      height,
      width,
    };
    return idxSet(data, path, options, false);
  }
  return idxSet(await loadIdxImagesWithLabels(path, options.labelsPath), `${path} ${options.labelsPath}`, options);
}

/**
 * Any {@link CalibrationInput} as {@link CalibrationData}: loaded sets pass through (IDX ones converted), a
 * {@link CalibrationSource} is loaded for the model input with {@link loadCalibrationSet}.
 */
export async function resolveCalibrationData(
  input: CalibrationInput,
  options: Pick<LoadCalibrationOptions, 'inputSpec' | 'classes' | 'seed'>,
): Promise<CalibrationData> {
  if (!isCalibrationSource(input)) return isLabelledImages(input) ? asCalibrationData(input) : input;
  return loadCalibrationSet(input.path, {
    ...options,
    ...(input.labelsPath !== undefined ? { labelsPath: input.labelsPath } : {}),
    ...(input.preprocess !== undefined ? { preprocess: input.preprocess } : {}),
    ...(input.split !== undefined ? { split: input.split } : {}),
  });
}
