// The calibration set every exit step reads: float32 samples shaped like the model input, with optional labels.
// Readers (IDX, .npy/.npz, image folders) all produce one; samples may live in memory or be decoded batch by batch.
import type { LabelledImages } from './labelled-images.js';

/**
 * Samples for exit training and calibration, each shaped like one model input (the input shape without its batch
 * dim), with optional labels. Without labels, exits are calibrated to agree with the full model's own answer.
 */
export interface CalibrationData {
  readonly count: number;
  /** Shape of one sample: the model input without its batch dim, e.g. [3, 224, 224]. */
  readonly sampleShape: readonly number[];
  /**
   * Labels, `labelShape` values per sample: a class index ([]), or a class map [H, W] for segmentation (values
   * outside the classes, such as 255, mark pixels to ignore). Undefined when the set is unlabelled.
   */
  readonly labels: Int32Array | undefined;
  readonly labelShape: readonly number[];
  /** Where the samples came from, for messages. */
  readonly source: string;
  /** Samples [start, end) as one row-major float32 batch (count × sampleShape). */
  readBatch(start: number, end: number): Promise<Float32Array>;
  /** Samples [start, end) as a set of their own, sharing storage. */
  slice(start: number, end: number): CalibrationData;
}

function clampRange(count: number, start: number, end: number): [number, number] {
  const from = Math.max(0, Math.min(start, count));
  return [from, Math.max(from, Math.min(end, count))];
}

/** Labels of samples [from, to), or undefined. */
function sliceLabels(
  labels: Int32Array | undefined,
  labelShape: readonly number[],
  from: number,
  to: number,
): Int32Array | undefined {
  const per = labelShape.reduce((a, b) => a * b, 1);
  return labels?.subarray(from * per, to * per);
}

/**
 * A calibration set over samples in memory. `Uint8Array` samples are pixels read as value / 255 (IDX images, the
 * example model's [0, 1] input contract); `Float32Array` samples are used as they are.
 */
export function inMemoryCalibration(options: {
  samples: Float32Array | Uint8Array;
  sampleShape: readonly number[];
  labels?: Int32Array | undefined;
  labelShape?: readonly number[];
  source: string;
}): CalibrationData {
  const size = options.sampleShape.reduce((a, b) => a * b, 1);
  const count = size === 0 ? 0 : Math.floor(options.samples.length / size);
  const labelShape = options.labelShape ?? [];
  const make = (offset: number, n: number): CalibrationData => ({
    count: n,
    sampleShape: options.sampleShape,
    labels: sliceLabels(options.labels, labelShape, offset, offset + n),
    labelShape,
    source: options.source,
    readBatch(start, end) {
      const [from, to] = clampRange(n, start, end);
      const view = options.samples.subarray((offset + from) * size, (offset + to) * size);
      if (view instanceof Float32Array) return Promise.resolve(view.slice());
      const out = new Float32Array(view.length);
      for (let i = 0; i < view.length; i++) out[i] = view[i]! / 255;
      return Promise.resolve(out);
    },
    slice(start, end) {
      const [from, to] = clampRange(n, start, end);
      return make(offset + from, to - from);
    },
  });
  return make(0, count);
}

/**
 * A calibration set whose samples are produced on demand (decoded image files): `read(indices)` returns the
 * samples at those positions of the full set, back to back.
 */
export function lazyCalibration(options: {
  count: number;
  sampleShape: readonly number[];
  labels?: Int32Array | undefined;
  labelShape?: readonly number[];
  source: string;
  read: (indices: readonly number[]) => Promise<Float32Array>;
}): CalibrationData {
  const labelShape = options.labelShape ?? [];
  const make = (offset: number, n: number): CalibrationData => ({
    count: n,
    sampleShape: options.sampleShape,
    labels: sliceLabels(options.labels, labelShape, offset, offset + n),
    labelShape,
    source: options.source,
    readBatch(start, end) {
      const [from, to] = clampRange(n, start, end);
      return options.read(Array.from({ length: to - from }, (_, i) => offset + from + i));
    },
    slice(start, end) {
      const [from, to] = clampRange(n, start, end);
      return make(offset + from, to - from);
    },
  });
  return make(0, options.count);
}

/** True for the MNIST-layout {@link LabelledImages} (as opposed to {@link CalibrationData}). */
export function isLabelledImages(data: CalibrationData | LabelledImages): data is LabelledImages {
  return 'pixels' in data;
}

/** IDX images as a calibration set: [1, H, W] samples in [0, 1] (pixels / 255), labels as class indices. */
export function fromLabelledImages(data: LabelledImages, source = 'IDX images'): CalibrationData {
  return inMemoryCalibration({
    samples: data.pixels,
    sampleShape: [1, data.height, data.width],
    labels: Int32Array.from(data.labels),
    source,
  });
}

/** Either kind of set as {@link CalibrationData}. */
export function asCalibrationData(data: CalibrationData | LabelledImages): CalibrationData {
  return isLabelledImages(data) ? fromLabelledImages(data) : data;
}
