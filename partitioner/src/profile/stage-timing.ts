import { quantile } from '@cleave/proto';

/** Latency statistics of one measured stage (a head or a tail run). */
export interface StageTiming {
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly runs: number;
  readonly batch: number;
}

/** Summarises raw samples in milliseconds (at least one), with the shared nearest-rank quantile. */
export function summarise(samplesMs: readonly number[], batch: number): StageTiming {
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    medianMs: round(quantile(samplesMs, 0.5)),
    p90Ms: round(quantile(samplesMs, 0.9)),
    runs: samplesMs.length,
    batch,
  };
}
