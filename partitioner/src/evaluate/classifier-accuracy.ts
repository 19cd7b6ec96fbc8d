import ort from 'onnxruntime-node';
import { type ExitLayout, exitLayout, sampleAgreement, sampleClassMap, type Task } from '@cleave/proto';
import { asCalibrationData, type CalibrationData } from '../datasets/calibration-data.js';
import type { LabelledImages } from '../datasets/labelled-images.js';

/**
 * What an output's score means: `top1` (classifier vs labels), `pixel-accuracy` (segmentation vs label maps), or,
 * for an unlabelled set, `agreement` / `pixel-agreement` with the model's final output.
 */
export type AccuracyMetric = 'top1' | 'agreement' | 'pixel-accuracy' | 'pixel-agreement';

/** Score of one output (an exit or the final head). */
export interface OutputAccuracy {
  readonly output: string;
  /** Samples counted right (for pixel metrics: the sum of per-sample pixel fractions). */
  readonly correct: number;
  /** The metric's value in [0, 1]: top-1 accuracy for labelled classifiers (hence the name). */
  readonly top1: number;
  readonly metric: AccuracyMetric;
}

/** What {@link measureClassifierAccuracy} measured. */
export interface ClassifierAccuracy {
  readonly samples: number;
  /** One entry per model output, in the model's output order. */
  readonly outputs: readonly OutputAccuracy[];
  /** Wall time of all inference runs, in milliseconds. */
  readonly inferenceMs: number;
  /** The output others were compared with when the set had no labels. */
  readonly reference?: string;
}

/** Options for {@link measureClassifierAccuracy}. */
export interface MeasureAccuracyOptions {
  /** Images per inference run. @default 256 */
  batchSize?: number;
  /** onnxruntime intra-op threads. @default 1 */
  intraOpNumThreads?: number;
  /** Called after each batch with the number of samples done so far. */
  onProgress?: (done: number, total: number) => void;
  /** How outputs are read: class rows, or per-pixel class maps [N, K, H, W]. @default 'classification' */
  task?: Task;
  /** The final output, the reference for unlabelled sets. @default the first output not named exit*, else the last */
  finalOutput?: string;
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

/** The model's final output by the exit* naming convention. */
function finalOf(outputs: readonly string[]): string {
  return outputs.find((o) => !/^exit/i.test(o)) ?? outputs[outputs.length - 1]!;
}

/**
 * Runs an ONNX model over a calibration or evaluation set in onnxruntime-node and scores every output, so each
 * early exit is scored too: top-1 accuracy of class rows against labels (the IDX flow: input [N, 1, H, W] in
 * [0, 1]), mean pixel accuracy of segmentation maps against label maps, or — for an unlabelled set — agreement
 * with the final output's answer.
 */
export async function measureClassifierAccuracy(
  modelPath: string,
  input: CalibrationData | LabelledImages,
  options: MeasureAccuracyOptions = {},
): Promise<ClassifierAccuracy> {
  const data = asCalibrationData(input);
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`'batchSize' must be a positive integer, got ${batchSize}`);
  }
  const task = options.task ?? 'classification';
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
  });
  try {
    const inputName = session.inputNames[0];
    if (inputName === undefined) throw new TypeError(`model '${modelPath}' has no inputs`);
    const names = session.outputNames;
    const labels = data.labels;
    const reference = labels === undefined ? (options.finalOutput ?? finalOf(names)) : undefined;
    if (reference !== undefined && !names.includes(reference)) {
      throw new TypeError(`model '${modelPath}' has no output '${reference}' (outputs: ${names.join(', ')})`);
    }
    const correct = new Array<number>(names.length).fill(0);
    const labelStride = data.labelShape.reduce((a, b) => a * b, 1);
    let inferenceMs = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const n = end - start;
      const x = new ort.Tensor('float32', await data.readBatch(start, end), [n, ...data.sampleShape]);
      const t0 = performance.now();
      const results = await session.run({ [inputName]: x });
      inferenceMs += performance.now() - t0;
      if (task === 'classification') {
        const refLogits = reference === undefined ? undefined : (results[reference]!.data as Float32Array);
        const refClasses = refLogits === undefined ? 0 : refLogits.length / n;
        names.forEach((name, k) => {
          const out = results[name];
          if (out === undefined) return;
          const logits = out.data as Float32Array;
          const classes = logits.length / n;
          for (let i = 0; i < n; i++) {
            const want = refLogits === undefined ? labels![start + i] : argmax(refLogits, i * refClasses, refClasses);
            if (argmax(logits, i * classes, classes) === want) correct[k] = (correct[k] ?? 0) + 1;
          }
        });
        options.onProgress?.(end, data.count);
        continue;
      }
      const layouts = new Map<string, ExitLayout>(
        names.map((name) => [name, exitLayout(task, Array.from(results[name]!.dims, Number), `output '${name}'`)]),
      );
      for (let i = 0; i < n; i++) {
        let ref: ArrayLike<number>;
        let offset = 0;
        let size: { height: number; width: number };
        if (reference === undefined) {
          size = { height: data.labelShape[0] ?? 1, width: data.labelShape[1] ?? 1 };
          ref = labels!;
          offset = (start + i) * labelStride;
        } else {
          const layout = layouts.get(reference)!;
          size = { height: layout.height, width: layout.width };
          ref = sampleClassMap(layout, results[reference]!.data as Float32Array, i, size);
        }
        names.forEach((name, k) => {
          const score = sampleAgreement(layouts.get(name)!, results[name]!.data as Float32Array, i, ref, offset, size);
          correct[k] = (correct[k] ?? 0) + score;
        });
      }
      options.onProgress?.(end, data.count);
    }
    const metric: AccuracyMetric =
      task === 'classification'
        ? reference === undefined
          ? 'top1'
          : 'agreement'
        : reference === undefined
          ? 'pixel-accuracy'
          : 'pixel-agreement';
    return {
      samples: data.count,
      outputs: names.map((output, k) => ({
        output,
        correct: correct[k] ?? 0,
        top1: (correct[k] ?? 0) / Math.max(1, data.count),
        metric,
      })),
      inferenceMs,
      ...(reference !== undefined ? { reference } : {}),
    };
  } finally {
    await session.release();
  }
}
