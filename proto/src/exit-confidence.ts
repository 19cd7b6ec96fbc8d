// How confident an early exit is, computed identically where thresholds are calibrated (the partitioner) and
// where they are applied (the edge agent). A threshold means nothing unless both sides measure the same way.
// Task-aware reading of whole exit tensors (classification rows, segmentation maps) is in exit-evaluator.ts.

/** Confidence measures for an exit's softmax: higher always means "more sure". */
export const EXIT_CONFIDENCE_MEASURES = ['max-prob', 'margin', 'entropy'] as const;
/** One of {@link EXIT_CONFIDENCE_MEASURES}, as stored in `exitPolicy.measure`. */
export type ExitConfidenceMeasure = (typeof EXIT_CONFIDENCE_MEASURES)[number];

/**
 * Confidence of one row of logits (`classes` values starting at `offset`) under a measure:
 * - `max-prob`: the largest softmax probability;
 * - `margin`: top-1 minus top-2 probability;
 * - `entropy`: 1 − H(p) / ln K, so a one-hot distribution scores 1 and a uniform one 0.
 */
export function exitConfidence(
  logits: ArrayLike<number>,
  offset: number,
  classes: number,
  measure: ExitConfidenceMeasure,
): number {
  return stridedConfidence(logits, offset, classes, 1, measure, new Float64Array(classes));
}

/**
 * {@link exitConfidence} of `classes` logits `stride` apart (one pixel of an NCHW map has stride H×W), with a
 * caller's scratch buffer of at least `classes` values. The arithmetic is exitConfidence's, in the same order.
 */
export function stridedConfidence(
  logits: ArrayLike<number>,
  offset: number,
  classes: number,
  stride: number,
  measure: ExitConfidenceMeasure,
  scratch: Float64Array,
): number {
  let max = -Infinity;
  for (let i = 0; i < classes; i++) max = Math.max(max, logits[offset + i * stride]!);
  let sum = 0;
  const p = scratch;
  for (let i = 0; i < classes; i++) {
    p[i] = Math.exp(logits[offset + i * stride]! - max);
    sum += p[i]!;
  }
  let top1 = 0;
  let top2 = 0;
  let entropy = 0;
  for (let i = 0; i < classes; i++) {
    const q = p[i]! / sum;
    if (q > top1) {
      top2 = top1;
      top1 = q;
    } else if (q > top2) top2 = q;
    if (q > 0) entropy -= q * Math.log(q);
  }
  if (measure === 'max-prob') return top1;
  if (measure === 'margin') return top1 - top2;
  return classes > 1 ? 1 - entropy / Math.log(classes) : 1;
}

/** Index of the largest value in one row of `classes` values starting at `offset`. */
export function argmaxRow(values: ArrayLike<number>, offset: number, classes: number, stride = 1): number {
  let best = 0;
  for (let i = 1; i < classes; i++) if (values[offset + i * stride]! > values[offset + best * stride]!) best = i;
  return best;
}
