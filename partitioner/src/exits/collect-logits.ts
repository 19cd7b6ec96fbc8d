import ort from 'onnxruntime-node';
import type { Task } from '@cleave/proto';
import { asCalibrationData, type CalibrationData, isLabelledImages } from '../datasets/calibration-data.js';
import { IGNORED_LABELS } from '../datasets/load-calibration.js';
import type { LabelledImages } from '../datasets/labelled-images.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';

/** Per-output logits (row-major [samples × classes]) of a classifier over a calibration set. */
export interface CollectedLogits {
  readonly classes: number;
  readonly samples: number;
  readonly logits: ReadonlyMap<string, Float32Array>;
}

/** A float32 output of one batch. */
export interface BatchOutput {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A contiguous slice of a calibration set (either kind), without copying samples. */
export function sliceImages<T extends CalibrationData | LabelledImages>(data: T, start: number, end: number): T {
  if (!isLabelledImages(data)) return data.slice(start, end) as T;
  const from = Math.max(0, Math.min(start, data.count));
  const to = Math.max(from, Math.min(end, data.count));
  const size = data.height * data.width;
  return {
    pixels: data.pixels.subarray(from * size, to * size),
    labels: data.labels.subarray(from, to),
    count: to - from,
    height: data.height,
    width: data.width,
  } as T;
}

function shapeText(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * Checks that a calibration set fits a model: non-empty, each sample shaped like the model input (numeric dims
 * equal), and labels that are valid for the task: class indices below `classes` for classifiers, [H, W] class
 * maps for segmentation (255 and -1 ignored). `what` names the set in messages.
 */
export function checkCalibrationFits(
  input: CalibrationData | LabelledImages,
  inputShape: readonly (number | string | null)[],
  classes: number,
  what: string,
  task: Task = 'classification',
): void {
  const data = asCalibrationData(input);
  // Messages name the file or folder the samples came from, not just the role the set plays.
  const set = data.source ? `${what} (${data.source})` : what;
  if (data.count === 0) {
    throw new ExitError(ExitErrorCode.EmptyCalibration, `${set} is empty: early exits need calibration samples`);
  }
  const wanted = inputShape.slice(1);
  const fits =
    inputShape.length === data.sampleShape.length + 1 &&
    data.sampleShape.every((d, i) => typeof wanted[i] !== 'number' || wanted[i] === d);
  if (!fits) {
    const [c, h, w] = data.sampleShape;
    throw new ExitError(
      ExitErrorCode.ShapeMismatch,
      data.sampleShape.length === 3 && c === 1
        ? `${set} has ${h}×${w} single-channel images, but the model input is ${shapeText(inputShape)} (--calib-resize, --calib-crop and --calib-channels convert images)`
        : `${set} has samples of shape ${shapeText(data.sampleShape)}, but the model input is ${shapeText(inputShape)}`,
    );
  }
  if (data.labels === undefined) return;
  const maps = data.labelShape.length > 0;
  if (task === 'segmentation' && !maps) {
    throw new ExitError(
      ExitErrorCode.LabelMismatch,
      `${set} has one label per sample, but a segmentation model needs [H, W] label maps; give a .npy of [N, H, W] class maps, or no labels to calibrate on agreement with the full model`,
    );
  }
  if (task !== 'segmentation' && maps) {
    throw new ExitError(
      ExitErrorCode.LabelMismatch,
      `${set} has label maps ${shapeText(data.labelShape)}, but a ${task} model needs one class index per sample`,
    );
  }
  let maxLabel = 0;
  for (const l of data.labels) if (!(maps && IGNORED_LABELS.includes(l))) maxLabel = Math.max(maxLabel, l);
  if (maxLabel >= classes) {
    throw new ExitError(
      ExitErrorCode.LabelMismatch,
      maps
        ? `${set} has label ${maxLabel}, but the model's segmentation outputs have only ${classes} classes (255 and -1 mark ignored pixels)`
        : `${set} has label ${maxLabel}, but the model's classifier outputs have only ${classes} classes`,
    );
  }
}

/** Samples per batch: 500 for small inputs (as always), fewer for large ones (about 32 MB of input per batch). */
export function defaultBatchSize(data: CalibrationData): number {
  const size = data.sampleShape.reduce((a, b) => a * b, 1);
  return Math.max(1, Math.min(500, Math.floor(8_000_000 / Math.max(1, size))));
}

/**
 * Runs a model over `data` in batches and hands each batch's float32 `outputs` to `onBatch` (with the batch's
 * first sample index), so nothing larger than a batch is kept unless the caller keeps it.
 */
export async function forEachBatch(
  model: Uint8Array,
  input: CalibrationData | LabelledImages,
  outputs: readonly string[],
  onBatch: (tensors: ReadonlyMap<string, BatchOutput>, start: number, n: number) => void,
  options: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<void> {
  const data = asCalibrationData(input);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const missing = outputs.find((o) => !session.outputNames.includes(o));
    if (missing !== undefined) {
      throw new ExitError(
        ExitErrorCode.UnknownOutput,
        `the model has no output '${missing}' (outputs: ${session.outputNames.join(', ')})`,
      );
    }
    const inputName = session.inputNames[0]!;
    const batchSize = options.batchSize ?? defaultBatchSize(data);
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const n = end - start;
      const x = new ort.Tensor('float32', await data.readBatch(start, end), [n, ...data.sampleShape]);
      const result = await session.run({ [inputName]: x }, [...outputs]);
      const tensors = new Map<string, BatchOutput>();
      for (const name of outputs) {
        const t = result[name]!;
        if (t.type !== 'float32' || t.dims[0] !== n) {
          throw new ExitError(
            ExitErrorCode.NotClassifier,
            `output '${name}' is ${t.type} [${t.dims.join(', ')}] for a batch of ${n}; exits and the final output must be float32 with the batch first`,
          );
        }
        tensors.set(name, { dims: Array.from(t.dims, Number), data: t.data as Float32Array });
      }
      onBatch(tensors, start, n);
      options.onProgress?.(end, data.count);
    }
  } finally {
    await session.release();
  }
}

/** Runs a model over `data` in batches and keeps the logits of `outputs`, which must be [N, K] with one K. */
export async function collectLogits(
  model: Uint8Array,
  input: CalibrationData | LabelledImages,
  outputs: readonly string[],
  options: {
    batchSize?: number;
    onProgress?: (done: number, total: number) => void;
    /** Accept outputs of different widths (feature matrices rather than logits). @default false */
    anyWidth?: boolean;
  } = {},
): Promise<CollectedLogits> {
  const data = asCalibrationData(input);
  const collected = new Map<string, Float32Array>();
  let classes = 0;
  await forEachBatch(
    model,
    data,
    outputs,
    (tensors, start) => {
      for (const name of outputs) {
        const t = tensors.get(name)!;
        if (t.dims.length !== 2) {
          throw new ExitError(
            ExitErrorCode.NotClassifier,
            `output '${name}' is not a classifier: expected float32 [N, classes], got float32 [${t.dims.join(', ')}]`,
          );
        }
        const k = t.dims[1]!;
        if (classes === 0) classes = k;
        if (k !== classes && options.anyWidth !== true) {
          throw new ExitError(
            ExitErrorCode.NotClassifier,
            `output '${name}' has ${k} classes but '${outputs[0]}' has ${classes}; exits must classify into the same classes`,
          );
        }
        let buf = collected.get(name);
        if (!buf) {
          buf = new Float32Array(data.count * k);
          collected.set(name, buf);
        }
        buf.set(t.data, start * k);
      }
    },
    {
      batchSize: options.batchSize ?? defaultBatchSize(data),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
  );
  return { classes, samples: data.count, logits: collected };
}
