// The one definition of a quantile in Cleave, so that the profiler's medians, the edge's bandwidth estimate, the
// demo's p50/p95 and the benches' figures all mean the same thing.
//
// Nearest rank, not linear interpolation: the bandwidth estimator needs a median that is always a measured value
// (the lower middle for an even count), because an interpolated one would fall between the old and the new level
// of a link after a step and walk the controller through the plan ranges in between.

/**
 * The q-quantile of `values` by the nearest-rank definition: the smallest value with at least `q` of the values at
 * or below it, i.e. the `⌈q·n⌉`-th smallest (1-based), and the smallest value for q = 0. The result is always one
 * of the values. `values` need not be sorted and is not modified.
 *
 * Throws RangeError for no values, or a q outside [0, 1].
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`"q" must be in [0, 1]; got ${String(q)}`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** {@link quantile}, or NaN for no values: for reports that show a gap ("-", NaN) where nothing was measured. */
export function quantileOrNaN(values: readonly number[], q: number): number {
  return values.length === 0 ? Number.NaN : quantile(values, q);
}

/** The median by {@link quantile}'s nearest-rank definition: the middle value, the lower middle for an even count. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}
