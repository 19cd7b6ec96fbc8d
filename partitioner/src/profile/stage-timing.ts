/** Latency statistics of one measured stage (a head or a tail run). */
export interface StageTiming {
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly runs: number;
  readonly batch: number;
}

/** Value at quantile q (0..1) of sorted numbers, by linear interpolation. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/** Summarises raw samples in milliseconds. */
export function summarise(samplesMs: readonly number[], batch: number): StageTiming {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { medianMs: round(quantile(sorted, 0.5)), p90Ms: round(quantile(sorted, 0.9)), runs: sorted.length, batch };
}
