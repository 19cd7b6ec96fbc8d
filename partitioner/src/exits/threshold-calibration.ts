import { argmaxRow, confidence, type ConfidenceMeasure } from './confidence.js';

/**
 * Per sample, how right an answer is, in [0, 1]: 1 or 0 for a classifier's top-1, the fraction of agreeing pixels
 * for segmentation. Against the labels, or against the full model's own answer when the set has none.
 */
export type Correctness = Uint8Array | Float64Array;

/**
 * One exit's evidence on a calibration set: per-sample confidence and how right its answer was. `C` is 0/1 bytes
 * for classifiers (the default) and fractions (Float64Array) for segmentation; see {@link Correctness}.
 */
export interface ExitEvidence<C extends Correctness = Uint8Array> {
  readonly output: string;
  readonly confidence: Float64Array;
  readonly correct: C;
}

/** All exits (in order) plus the final output, on the same samples. */
export interface ExitEvidenceSet<C extends Correctness = Uint8Array> {
  readonly exits: readonly ExitEvidence<C>[];
  readonly finalCorrect: C;
  readonly samples: number;
}

/** Mean of a correctness array (0 for none). */
export function meanCorrect(values: Correctness): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / Math.max(1, values.length);
}

/** What happens at given thresholds: overall and per exit. */
export interface OperatingPoint {
  /** Allowed accuracy loss versus the final exit alone, in percentage points. */
  readonly budgetPoints: number;
  /** Per exit output; null means "never exit here". A sample leaves at the first exit whose confidence ≥ threshold. */
  readonly thresholds: Readonly<Record<string, number | null>>;
  /** Fraction of samples answered before the final exit. */
  readonly exitRate: number;
  /**
   * Overall accuracy of the system: top-1 (classification) or mean pixel accuracy (segmentation), against the
   * labels, or agreement with the full model's own answer when calibrated without labels.
   */
  readonly accuracy: number;
  readonly perExit: readonly { output: string; rate: number; accuracy: number }[];
}

/** Turns logits of each exit and the final output into {@link ExitEvidence}. */
export function evidenceFromLogits(
  exitLogits: readonly { output: string; logits: Float32Array }[],
  finalLogits: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
  measure: ConfidenceMeasure,
): ExitEvidenceSet {
  const n = labels.length;
  const correctOf = (logits: Float32Array): Uint8Array =>
    Uint8Array.from({ length: n }, (_, i) => (argmaxRow(logits, i * classes, classes) === labels[i] ? 1 : 0));
  return {
    exits: exitLogits.map(({ output, logits }) => ({
      output,
      confidence: Float64Array.from({ length: n }, (_, i) => confidence(logits, i * classes, classes, measure)),
      correct: correctOf(logits),
    })),
    finalCorrect: correctOf(finalLogits),
    samples: n,
  };
}

/** Simulates early exiting at the given thresholds (Infinity = never). */
export function simulate(
  set: ExitEvidenceSet<Correctness>,
  thresholds: readonly number[],
  budgetPoints = 0,
): OperatingPoint {
  const counts = set.exits.map(() => 0);
  const rights = set.exits.map(() => 0);
  let right = 0;
  let exited = 0;
  for (let i = 0; i < set.samples; i++) {
    let k = 0;
    for (; k < set.exits.length; k++) if (set.exits[k]!.confidence[i]! >= thresholds[k]!) break;
    if (k < set.exits.length) {
      counts[k]!++;
      exited++;
      const ok = set.exits[k]!.correct[i]!;
      rights[k]! += ok;
      right += ok;
    } else right += set.finalCorrect[i]!;
  }
  const n = Math.max(1, set.samples);
  return {
    budgetPoints,
    thresholds: Object.fromEntries(
      set.exits.map((e, k) => [e.output, Number.isFinite(thresholds[k]) ? thresholds[k]! : null]),
    ),
    exitRate: exited / n,
    accuracy: right / n,
    perExit: set.exits.map((e, k) => ({
      output: e.output,
      rate: counts[k]! / n,
      accuracy: counts[k]! > 0 ? rights[k]! / counts[k]! : 0,
    })),
  };
}

/** Candidate thresholds for one exit: confidence quantiles, plus "never". */
function thresholdGrid(values: Float64Array, levels: number): number[] {
  const sorted = Float64Array.from(values).sort();
  const grid = new Set<number>([Infinity]);
  for (let q = 0; q < levels; q++) grid.add(sorted[Math.floor((q / levels) * (sorted.length - 1))] ?? Infinity);
  return [...grid].sort((a, b) => b - a);
}

/**
 * Chooses per-exit thresholds that maximise the early-exit rate while keeping overall accuracy
 * within `budgetPoints` of the final exit alone (coordinate ascent over confidence quantiles,
 * deterministic). With no feasible early exit, every threshold is "never".
 */
export function calibrateThresholds(
  set: ExitEvidenceSet<Correctness>,
  budgetPoints: number,
  levels = 200,
): OperatingPoint {
  const finalAccuracy = meanCorrect(set.finalCorrect);
  const floor = finalAccuracy - budgetPoints / 100 - 1e-12;
  const grids = set.exits.map((e) => thresholdGrid(e.confidence, levels));
  const thresholds = set.exits.map(() => Infinity);
  let best = simulate(set, thresholds, budgetPoints);
  for (let round = 0; round < 4; round++) {
    let improved = false;
    for (let k = 0; k < set.exits.length; k++) {
      for (const t of grids[k]!) {
        const trial = [...thresholds];
        trial[k] = t;
        const point = simulate(set, trial, budgetPoints);
        const better =
          point.accuracy >= floor &&
          (point.exitRate > best.exitRate || (point.exitRate === best.exitRate && point.accuracy > best.accuracy));
        if (better) {
          best = point;
          thresholds[k] = t;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return best;
}

/** Operating points over a range of accuracy budgets: the exit-rate versus accuracy curve. */
export function exitCurve(
  set: ExitEvidenceSet<Correctness>,
  budgets: readonly number[] = [0, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10],
): OperatingPoint[] {
  return budgets.map((b) => calibrateThresholds(set, b));
}
