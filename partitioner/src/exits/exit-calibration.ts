import type { LabelledImages } from '../datasets/labelled-images.js';
import { checkCalibrationFits, collectLogits, type CollectedLogits } from './collect-logits.js';
import { CONFIDENCE_MEASURES, type ConfidenceMeasure } from './confidence.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';
import {
  calibrateThresholds,
  evidenceFromLogits,
  exitCurve,
  simulate,
  type ExitEvidenceSet,
  type OperatingPoint,
} from './threshold-calibration.js';

/** Exit behaviour chosen on a held-out calibration set, as stored in the bundle manifest. */
export interface ExitCalibration {
  readonly measure: ConfidenceMeasure;
  readonly budgetPoints: number;
  /** The agent may move along `curve` at runtime but never below this accuracy. */
  readonly floorAccuracy: number;
  /** Accuracy of the final output alone on the calibration set. */
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
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the model with exits over a held-out labelled set and picks the confidence measure and
 * per-exit thresholds that maximise the early-exit rate within the accuracy budget.
 */
export async function calibrateExits(
  model: Uint8Array,
  inputShape: readonly (number | string | null)[],
  holdout: LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  options: CalibrateExitsOptions = {},
): Promise<ExitCalibration> {
  if (exits.length === 0) throw new ExitError(ExitErrorCode.UnknownOutput, 'no exit outputs to calibrate');
  if (exits.includes(finalOutput)) {
    throw new ExitError(ExitErrorCode.NotClassifier, `the final output '${finalOutput}' cannot also be an exit`);
  }
  if (holdout.count === 0) {
    throw new ExitError(
      ExitErrorCode.EmptyCalibration,
      'the calibration hold-out set is empty: early exits need labelled samples',
    );
  }
  checkCalibrationFits(holdout, inputShape, options.classes ?? Number.MAX_SAFE_INTEGER, 'the calibration set');
  const collected = await collectLogits(
    model,
    holdout,
    [...exits, finalOutput],
    options.onProgress ? { onProgress: options.onProgress } : {},
  );
  checkCalibrationFits(holdout, inputShape, collected.classes, 'the calibration set');
  const budget = options.budgetPoints ?? 1.0;
  const measures =
    options.measure === undefined || options.measure === 'auto' ? CONFIDENCE_MEASURES : [options.measure];
  let best: { measure: ConfidenceMeasure; point: OperatingPoint } | undefined;
  for (const measure of measures) {
    const point = calibrateThresholds(evidenceFor(collected, exits, finalOutput, holdout, measure), budget);
    if (!best || point.exitRate > best.point.exitRate) best = { measure, point };
  }
  const chosen = best!;
  const evidence = evidenceFor(collected, exits, finalOutput, holdout, chosen.measure);
  const finalAccuracy = evidence.finalCorrect.reduce((a, b) => a + b, 0) / evidence.samples;
  const floorPoints = options.floorPoints ?? 3.0;
  return {
    measure: chosen.measure,
    budgetPoints: budget,
    floorAccuracy: Math.max(0, finalAccuracy - floorPoints / 100),
    finalAccuracy,
    samples: holdout.count,
    operatingPoint: chosen.point,
    curve: exitCurve(evidence).filter((p) => p.budgetPoints <= floorPoints),
  };
}

function evidenceFor(
  collected: CollectedLogits,
  exits: readonly string[],
  finalOutput: string,
  data: LabelledImages,
  measure: ConfidenceMeasure,
): ExitEvidenceSet {
  return evidenceFromLogits(
    exits.map((output) => ({ output, logits: collected.logits.get(output)! })),
    collected.logits.get(finalOutput)!,
    data.labels,
    collected.classes,
    measure,
  );
}

/**
 * Applies a calibrated exit policy, unchanged, to another labelled set (e.g. the test split) and
 * reports what happens there, next to the final output's own accuracy on that set.
 */
export async function applyExitPolicy(
  model: Uint8Array,
  data: LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  calibration: ExitCalibration,
  point: OperatingPoint = calibration.operatingPoint,
): Promise<{ point: OperatingPoint; finalAccuracy: number }> {
  const collected = await collectLogits(model, data, [...exits, finalOutput]);
  const evidence = evidenceFor(collected, exits, finalOutput, data, calibration.measure);
  return {
    point: simulate(
      evidence,
      exits.map((e) => point.thresholds[e] ?? Infinity),
      point.budgetPoints,
    ),
    finalAccuracy: evidence.finalCorrect.reduce((a, b) => a + b, 0) / evidence.samples,
  };
}

/** Fraction of requests a head with these exits answers locally at the operating point. */
export function exitRateFor(calibration: ExitCalibration | undefined, headExits: readonly string[]): number {
  if (!calibration) return 0;
  return calibration.operatingPoint.perExit.filter((e) => headExits.includes(e.output)).reduce((s, e) => s + e.rate, 0);
}
