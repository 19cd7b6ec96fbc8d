import ort from 'onnxruntime-node';
import { toUnitFloatBatch, type LabelledImages } from '../datasets/labelled-images.js';

/** Top-1 accuracy of one classifier output (an exit or the final head). */
export interface OutputAccuracy {
  readonly output: string;
  readonly correct: number;
  readonly top1: number;
}

/** What {@link measureClassifierAccuracy} measured. */
export interface ClassifierAccuracy {
  readonly samples: number;
  /** One entry per model output, in the model's output order. */
  readonly outputs: readonly OutputAccuracy[];
  /** Wall time of all inference runs, in milliseconds. */
  readonly inferenceMs: number;
}

/** Options for {@link measureClassifierAccuracy}. */
export interface MeasureAccuracyOptions {
  /** Images per inference run. @default 256 */
  batchSize?: number;
  /** onnxruntime intra-op threads. @default 1 */
  intraOpNumThreads?: number;
  /** Called after each batch with the number of samples done so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Index of the largest of `length` values starting at `offset`. */
function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[offset + i] ?? -Infinity;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * Runs an image classifier ONNX model (input [N, 1, H, W] float in [0, 1]) over a labelled set in
 * onnxruntime-node and reports the top-1 accuracy of every output, so each early exit is scored too.
 */
export async function measureClassifierAccuracy(
  modelPath: string,
  data: LabelledImages,
  options: MeasureAccuracyOptions = {},
): Promise<ClassifierAccuracy> {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`'batchSize' must be a positive integer, got ${batchSize}`);
  }
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
  });
  try {
    const inputName = session.inputNames[0];
    if (inputName === undefined) throw new TypeError(`model '${modelPath}' has no inputs`);
    const correct = new Array<number>(session.outputNames.length).fill(0);
    let inferenceMs = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const n = end - start;
      const input = new ort.Tensor('float32', toUnitFloatBatch(data, start, end), [n, 1, data.height, data.width]);
      const t0 = performance.now();
      const results = await session.run({ [inputName]: input });
      inferenceMs += performance.now() - t0;
      session.outputNames.forEach((name, k) => {
        const out = results[name];
        if (out === undefined) return;
        const logits = out.data as Float32Array;
        const classes = logits.length / n;
        for (let i = 0; i < n; i++) {
          if (argmax(logits, i * classes, classes) === data.labels[start + i]) correct[k] = (correct[k] ?? 0) + 1;
        }
      });
      options.onProgress?.(end, data.count);
    }
    return {
      samples: data.count,
      outputs: session.outputNames.map((output, k) => ({
        output,
        correct: correct[k] ?? 0,
        top1: (correct[k] ?? 0) / Math.max(1, data.count),
      })),
      inferenceMs,
    };
  } finally {
    await session.release();
  }
}
