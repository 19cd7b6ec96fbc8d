// When two runs of a model give "the same" output: the one measure the partitioner's path-consistency check and the
// serving tests share. Differences are taken relative to the reference's largest magnitude, but never to less than
// OUTPUT_SCALE_FLOOR: onnxruntime's fusions move float32 values by their rounding (about 1e-7 of the activations
// they come from), and an output squashed to near zero (a text detector's probability map on an image without text,
// max 2.5e-5) turned that rounding into 0.7% "relative" error. The check then ran PaddleOCR's detector with graph
// optimizations disabled, 1.8× slower (19.5 against 10.6 ms per 256×256 run), for a 1.8e-7 difference.

/** Default largest accepted deviation: 1e-4 of the output's scale. */
export const OUTPUT_AGREEMENT_TOLERANCE = 1e-4;
/** The least scale a difference is measured against: below it, differences count in absolute terms. */
export const OUTPUT_SCALE_FLOOR = 1e-2;

/**
 * max |a − b| / max(max |a|, OUTPUT_SCALE_FLOOR) over the elements of a reference and another run of one output.
 * NaN in the same places matches; NaN on one side only, or a length mismatch, is an infinite deviation.
 */
export function outputDeviation(
  reference: ArrayLike<number | bigint>,
  got: ArrayLike<number | bigint>,
  scaleFloor = OUTPUT_SCALE_FLOOR,
): number {
  if (reference.length !== got.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    const x = Number(reference[i]);
    const y = Number(got[i]);
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Number.POSITIVE_INFINITY;
      continue;
    }
    diff = Math.max(diff, Math.abs(x - y));
    scale = Math.max(scale, Math.abs(x));
  }
  return diff === 0 ? 0 : diff / Math.max(scale, scaleFloor);
}
