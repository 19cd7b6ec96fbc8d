import { argmaxRow, confidence, type ConfidenceMeasure } from './confidence.js';

/** One exit's evidence on a labelled set: per-sample confidence and whether its top-1 was right. */
export interface ExitEvidence {
  readonly output: string;
  readonly confidence: Float64Array;
  readonly correct: Uint8Array;
}

/** All exits (in order) plus the final output, on the same samples. */
export interface ExitEvidenceSet {
  readonly exits: readonly ExitEvidence[];
  readonly finalCorrect: Uint8Array;
  readonly samples: number;
}

/** What happens at given thresholds: overall and per exit. */
export interface OperatingPoint {
  /** Allowed accuracy loss versus the final exit alone, in percentage points. */
  readonly budgetPoints: number;
  /** Per exit output; null means "never exit here". A sample leaves at the first exit whose confidence ≥ threshold. */
  readonly thresholds: Readonly<Record<string, number | null>>;
  /** Fraction of samples answered before the final exit. */
  readonly exitRate: number;
  /** Overall top-1 accuracy of the system. */
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
export function simulate(set: ExitEvidenceSet, thresholds: readonly number[], budgetPoints = 0): OperatingPoint {
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
export function calibrateThresholds(set: ExitEvidenceSet, budgetPoints: number, levels = 200): OperatingPoint {
  const finalAccuracy = set.finalCorrect.reduce((a, b) => a + b, 0) / Math.max(1, set.samples);
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
  set: ExitEvidenceSet,
  budgets: readonly number[] = [0, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10],
): OperatingPoint[] {
  return budgets.map((b) => calibrateThresholds(set, b));
}
