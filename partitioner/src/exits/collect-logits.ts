import ort from 'onnxruntime-node';
import { toUnitFloatBatch, type LabelledImages } from '../datasets/labelled-images.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';

/** Per-output logits (row-major [samples × classes]) of a classifier over a labelled image set. */
export interface CollectedLogits {
  readonly classes: number;
  readonly samples: number;
  readonly logits: ReadonlyMap<string, Float32Array>;
}

/** A contiguous slice of a labelled set, without copying pixels. */
export function sliceImages(data: LabelledImages, start: number, end: number): LabelledImages {
  const from = Math.max(0, Math.min(start, data.count));
  const to = Math.max(from, Math.min(end, data.count));
  const size = data.height * data.width;
  return {
    pixels: data.pixels.subarray(from * size, to * size),
    labels: data.labels.subarray(from, to),
    count: to - from,
    height: data.height,
    width: data.width,
  };
}

/**
 * Checks that a labelled image set fits an image classifier: non-empty, the image size matches
 * the model's [N, 1, H, W] input, and every label is a valid class of the chosen outputs.
 */
export function checkCalibrationFits(
  data: LabelledImages,
  inputShape: readonly (number | string | null)[],
  classes: number,
  what: string,
): void {
  if (data.count === 0) {
    throw new ExitError(ExitErrorCode.EmptyCalibration, `${what} is empty: early exits need labelled samples`);
  }
  const [, c, h, w] = inputShape;
  if (inputShape.length !== 4 || c !== 1 || h !== data.height || w !== data.width) {
    throw new ExitError(
      ExitErrorCode.ShapeMismatch,
      `${what} has ${data.height}×${data.width} single-channel images, but the model input is [${inputShape.join(', ')}]`,
    );
  }
  let maxLabel = 0;
  for (const l of data.labels) maxLabel = Math.max(maxLabel, l);
  if (maxLabel >= classes) {
    throw new ExitError(
      ExitErrorCode.LabelMismatch,
      `${what} has label ${maxLabel}, but the model's classifier outputs have only ${classes} classes`,
    );
  }
}

/** Runs a model over `data` in batches and keeps the logits of `outputs`, which must be [N, K] with one K. */
export async function collectLogits(
  model: Uint8Array,
  data: LabelledImages,
  outputs: readonly string[],
  options: {
    batchSize?: number;
    onProgress?: (done: number, total: number) => void;
    /** Accept outputs of different widths (feature matrices rather than logits). @default false */
    anyWidth?: boolean;
  } = {},
): Promise<CollectedLogits> {
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
    const batchSize = options.batchSize ?? 500;
    const collected = new Map<string, Float32Array>();
    let classes = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const n = end - start;
      const x = new ort.Tensor('float32', toUnitFloatBatch(data, start, end), [n, 1, data.height, data.width]);
      const result = await session.run({ [inputName]: x }, [...outputs]);
      for (const name of outputs) {
        const t = result[name]!;
        if (t.type !== 'float32' || t.dims.length !== 2 || t.dims[0] !== n) {
          throw new ExitError(
            ExitErrorCode.NotClassifier,
            `output '${name}' is not a classifier: expected float32 [N, classes], got ${t.type} [${t.dims.join(', ')}]`,
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
        buf.set(t.data as Float32Array, start * k);
      }
      options.onProgress?.(end, data.count);
    }
    return { classes, samples: data.count, logits: collected };
  } finally {
    await session.release();
  }
}
