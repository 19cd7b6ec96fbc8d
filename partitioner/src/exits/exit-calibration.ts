import type { EvaluableTask, Task } from '@cleave/proto';
import { asCalibrationData, type CalibrationData } from '../datasets/calibration-data.js';
import type { LabelledImages } from '../datasets/labelled-images.js';
import { checkCalibrationFits } from './collect-logits.js';
import { CONFIDENCE_MEASURES, type ConfidenceMeasure } from './confidence.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';
import { type CalibrationReference, collectExitEvidence } from './exit-evidence.js';
import { calibrateThresholds, exitCurve, meanCorrect, simulate, type OperatingPoint } from './threshold-calibration.js';

/** Exit behaviour chosen on a held-out calibration set, as stored in the bundle manifest. */
export interface ExitCalibration {
  readonly measure: ConfidenceMeasure;
  /** How exits were evaluated (proto's exit evaluator). */
  readonly task: EvaluableTask;
  /**
   * What "accuracy" means here: `labels` — against the set's labels; `agreement` — the set had no labels, so
   * exits were calibrated to agree with the full model's own answer (its argmax), whose accuracy is then 1.
   */
  readonly source: CalibrationReference;
  readonly budgetPoints: number;
  /** The agent may move along `curve` at runtime but never below this accuracy. */
  readonly floorAccuracy: number;
  /** Accuracy of the final output alone on the calibration set (1 under `agreement`). */
  readonly finalAccuracy: number;
  readonly samples: number;
  readonly operatingPoint: OperatingPoint;
  /** Operating points for a range of budgets, from strict to lenient. */
  readonly curve: readonly OperatingPoint[];
}

/** Options for {@link calibrateExits}. */
export interface CalibrateExitsOptions {
  /** Accuracy the system may lose versus the final output alone, in points. @default 1.0 */
  readonly budgetPoints?: number;
  /** Hard floor below the final accuracy, in points, that runtime moves must respect. @default 3.0 */
  readonly floorPoints?: number;
  /** A fixed measure, or pick the one with the highest exit rate. @default 'auto' */
  readonly measure?: ConfidenceMeasure | 'auto';
  /** Classes of the final output when known from its shape, to reject bad labels before any inference. */
  readonly classes?: number;
  /** The model's task: how exit outputs are read. @default 'classification' */
  readonly task?: Task;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the model with exits over a held-out calibration set and picks the confidence measure and per-exit
 * thresholds that maximise the early-exit rate within the accuracy budget. With labels, accuracy is against
 * them; without, against the full model's own answer (agreement).
 */
export async function calibrateExits(
  model: Uint8Array,
  inputShape: readonly (number | string | null)[],
  holdout: CalibrationData | LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  options: CalibrateExitsOptions = {},
): Promise<ExitCalibration> {
  if (exits.length === 0) throw new ExitError(ExitErrorCode.UnknownOutput, 'no exit outputs to calibrate');
  if (exits.includes(finalOutput)) {
    throw new ExitError(ExitErrorCode.NotClassifier, `the final output '${finalOutput}' cannot also be an exit`);
  }
  const data = asCalibrationData(holdout);
  if (data.count === 0) {
    throw new ExitError(
      ExitErrorCode.EmptyCalibration,
      'the calibration hold-out set is empty: early exits need calibration samples',
    );
  }
  const task = options.task ?? 'classification';
  const what = 'the calibration set';
  checkCalibrationFits(data, inputShape, options.classes ?? Number.MAX_SAFE_INTEGER, what, task);
  const measures =
    options.measure === undefined || options.measure === 'auto' ? CONFIDENCE_MEASURES : [options.measure];
  const collected = await collectExitEvidence(model, data, exits, finalOutput, {
    task,
    measures,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  checkCalibrationFits(data, inputShape, collected.classes, what, task);
  const budget = options.budgetPoints ?? 1.0;
  let best: { measure: ConfidenceMeasure; point: OperatingPoint } | undefined;
  for (const measure of measures) {
    const point = calibrateThresholds(collected.sets.get(measure)!, budget);
    if (!best || point.exitRate > best.point.exitRate) best = { measure, point };
  }
  const chosen = best!;
  const evidence = collected.sets.get(chosen.measure)!;
  const finalAccuracy = meanCorrect(evidence.finalCorrect);
  const floorPoints = options.floorPoints ?? 3.0;
  return {
    measure: chosen.measure,
    task: collected.task,
    source: collected.reference,
    budgetPoints: budget,
    floorAccuracy: Math.max(0, finalAccuracy - floorPoints / 100),
    finalAccuracy,
    samples: data.count,
    operatingPoint: chosen.point,
    curve: exitCurve(evidence).filter((p) => p.budgetPoints <= floorPoints),
  };
}

/**
 * Applies a calibrated exit policy, unchanged, to another set (e.g. the test split) and reports what happens
 * there, next to the final output's own accuracy on that set (1 when the set is unlabelled: agreement).
 */
export async function applyExitPolicy(
  model: Uint8Array,
  data: CalibrationData | LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  calibration: Pick<ExitCalibration, 'measure' | 'operatingPoint'> & { readonly task?: Task },
  point: OperatingPoint = calibration.operatingPoint,
): Promise<{ point: OperatingPoint; finalAccuracy: number }> {
  const collected = await collectExitEvidence(model, data, exits, finalOutput, {
    task: calibration.task ?? 'classification',
    measures: [calibration.measure],
  });
  const evidence = collected.sets.get(calibration.measure)!;
  return {
    point: simulate(
      evidence,
      exits.map((e) => point.thresholds[e] ?? Infinity),
      point.budgetPoints,
    ),
    finalAccuracy: meanCorrect(evidence.finalCorrect),
  };
}

/** Fraction of requests a head with these exits answers locally at the operating point. */
export function exitRateFor(calibration: ExitCalibration | undefined, headExits: readonly string[]): number {
  if (!calibration) return 0;
  return calibration.operatingPoint.perExit.filter((e) => headExits.includes(e.output)).reduce((s, e) => s + e.rate, 0);
}
