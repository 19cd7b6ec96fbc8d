// Exit evidence straight from model runs, batch by batch, with proto's exit evaluator: the confidence of every
// exit under each measure, and how right each exit and the final output are — against the labels, or against the
// final output's own answer when the set is unlabelled ("agreement"). Only O(samples × exits) numbers are kept,
// so segmentation maps never pile up in memory.
import {
  type EvaluableTask,
  ExitEvaluationError,
  type ExitLayout,
  exitLayout,
  type MapSize,
  sampleAgreement,
  sampleClassMap,
  sampleConfidence,
  type Task,
} from '@cleave/proto';
import { asCalibrationData, type CalibrationData } from '../datasets/calibration-data.js';
import type { LabelledImages } from '../datasets/labelled-images.js';
import { forEachBatch } from './collect-logits.js';
import type { ConfidenceMeasure } from './confidence.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';
import type { Correctness, ExitEvidenceSet } from './threshold-calibration.js';

/** What exits are scored against: the set's labels, or the full model's own answer. */
export type CalibrationReference = 'labels' | 'agreement';

/** Evidence of every exit under each measure, from one pass over a calibration set. */
export interface CollectedEvidence {
  readonly task: EvaluableTask;
  readonly reference: CalibrationReference;
  /** Classes of the final output. */
  readonly classes: number;
  readonly sets: ReadonlyMap<ConfidenceMeasure, ExitEvidenceSet<Correctness>>;
}

/** Options for {@link collectExitEvidence}. */
export interface CollectEvidenceOptions {
  /** @default 'classification' */
  readonly task?: Task;
  readonly measures: readonly ConfidenceMeasure[];
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

function layoutOf(task: Task, dims: readonly number[], name: string): ExitLayout {
  try {
    return exitLayout(task, dims, `output '${name}'`);
  } catch (err) {
    if (err instanceof ExitEvaluationError) {
      throw new ExitError(ExitErrorCode.NotClassifier, err.message, { cause: err });
    }
    throw err;
  }
}

/**
 * Runs the model over `data` and scores every exit per sample: confidence under each measure, and correctness in
 * [0, 1] — top-1 right or wrong for classifiers, the fraction of agreeing pixels for segmentation (an exit at
 * another resolution is resampled, nearest neighbour, to the reference's size). The reference is the labels when
 * the set has them (the final output is scored against them too), else the final output's answer (which then
 * scores 1 everywhere).
 */
export async function collectExitEvidence(
  model: Uint8Array,
  input: CalibrationData | LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  options: CollectEvidenceOptions,
): Promise<CollectedEvidence> {
  const data = asCalibrationData(input);
  const task = options.task ?? 'classification';
  const n = data.count;
  const labels = data.labels;
  const reference: CalibrationReference = labels === undefined ? 'agreement' : 'labels';
  const pixelwise = task === 'segmentation';
  const newCorrect = (): Correctness => (pixelwise ? new Float64Array(n) : new Uint8Array(n));
  const confidences = new Map(options.measures.map((m) => [m, exits.map(() => new Float64Array(n))]));
  const correct = exits.map(newCorrect);
  const finalCorrect = newCorrect();
  let classes = 0;
  let evaluated: EvaluableTask = 'classification';
  const labelSize: MapSize =
    data.labelShape.length === 2
      ? { height: data.labelShape[0]!, width: data.labelShape[1]! }
      : { height: 1, width: 1 };
  const labelStride = labelSize.height * labelSize.width;
  let scratch = new Float64Array(0);
  await forEachBatch(
    model,
    data,
    [...exits, finalOutput],
    (tensors, start, batch) => {
      const final = tensors.get(finalOutput)!;
      const finalLayout = layoutOf(task, final.dims, finalOutput);
      evaluated = finalLayout.task;
      classes = finalLayout.classes;
      if (scratch.length < classes) scratch = new Float64Array(classes);
      const layouts = exits.map((name) => {
        const layout = layoutOf(task, tensors.get(name)!.dims, name);
        if (layout.classes !== classes) {
          throw new ExitError(
            ExitErrorCode.NotClassifier,
            `output '${name}' has ${layout.classes} classes but '${finalOutput}' has ${classes}; exits must answer with the same classes`,
          );
        }
        return layout;
      });
      // The size answers are compared at: the label maps', or the final output's.
      const size = labels === undefined ? { height: finalLayout.height, width: finalLayout.width } : labelSize;
      const stride = size.height * size.width;
      const finalMap = new Int32Array(stride);
      for (let b = 0; b < batch; b++) {
        const i = start + b;
        let ref: ArrayLike<number>;
        let refOffset: number;
        if (labels === undefined) {
          ref = sampleClassMap(finalLayout, final.data, b, size, finalMap);
          refOffset = 0;
          finalCorrect[i] = 1;
        } else {
          ref = labels;
          refOffset = i * labelStride;
          finalCorrect[i] = sampleAgreement(finalLayout, final.data, b, ref, refOffset, size);
        }
        exits.forEach((name, k) => {
          const out = tensors.get(name)!.data;
          correct[k]![i] = sampleAgreement(layouts[k]!, out, b, ref, refOffset, size);
          for (const [measure, perExit] of confidences) {
            perExit[k]![i] = sampleConfidence(layouts[k]!, out, b, measure, scratch);
          }
        });
      }
    },
    {
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
  );
  const sets = new Map<ConfidenceMeasure, ExitEvidenceSet<Correctness>>();
  for (const [measure, perExit] of confidences) {
    sets.set(measure, {
      exits: exits.map((output, k) => ({ output, confidence: perExit[k]!, correct: correct[k]! })),
      finalCorrect,
      samples: n,
    });
  }
  return { task: evaluated, reference, classes, sets };
}
