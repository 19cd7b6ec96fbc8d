/**
 * Pure arithmetic of the side-by-side bench: per-cell summaries (percentiles by the shared nearest-rank quantile of
 * `@cleave/proto`) and the edge energy estimate. No I/O, so it is unit-tested
 * (bench/side-by-side/cell-stats.test.ts).
 */
import { DEFAULT_POWER_MODEL, type PowerModel, quantileOrNaN } from '@cleave/proto';

/** The five strategies, in table order. */
export const STRATEGIES = ['edge-only', 'cloud-raw', 'cloud-png', 'static-split', 'cleave'] as const;
/** One of {@link STRATEGIES}. */
export type Strategy = (typeof STRATEGIES)[number];

/** Human labels for tables and plots. */
export const STRATEGY_LABELS: Readonly<Record<Strategy, string>> = {
  'edge-only': 'edge-only',
  'cloud-raw': 'cloud-only, raw f32',
  'cloud-png': 'cloud-only, PNG',
  'static-split': 'best static split, no exits (f32)',
  cleave: 'Cleave (adaptive split + exits + codecs)',
};

/** Raw measurements of one (model, bandwidth, strategy) cell. */
export interface CellSamples {
  /** End-to-end latency per request, ms. */
  readonly latencyMs: readonly number[];
  /** Edge compute per request (model runs, encode/decode on the edge), ms. */
  readonly edgeComputeMs: readonly number[];
  /** Predicted class per request, or null when accuracy is not measured. */
  readonly correct: readonly boolean[] | null;
  /** Bytes that crossed the link during the measured requests, both directions. */
  readonly wireBytes: number;
  /** CPU time the edge process spent over the measured requests (every thread, idle work included), ms. */
  readonly edgeCpuMs: number;
}

/** The figures reported per cell. */
export interface CellSummary {
  readonly n: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  /** Top-1 accuracy in percent, or null. */
  readonly accuracyPct: number | null;
  readonly bytesPerRequest: number;
  /** Estimated edge energy per request, millijoules. */
  readonly edgeMilliJoules: number;
  /** CPU time of the edge process per request, ms: what the device's quota had to grant. */
  readonly edgeCpuMsPerRequest: number;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * Edge energy per request with the shared power model: compute watts × edge compute time, radio watts × the time
 * the measured bytes take on the link, idle watts × the rest of the wait (RTT, cloud compute, queueing).
 */
export function edgeEnergyMilliJoules(
  meanLatencyMs: number,
  meanComputeMs: number,
  bytesPerRequest: number,
  mbps: number,
  power: PowerModel = DEFAULT_POWER_MODEL,
): number {
  const transferMs = (bytesPerRequest * 8) / (mbps * 1000);
  const waitMs = Math.max(0, meanLatencyMs - meanComputeMs - transferMs);
  // W × ms = mJ.
  return power.computeWatts * meanComputeMs + power.radioWatts * transferMs + power.idleWatts * waitMs;
}

/** Summarises one cell. */
export function summariseCell(samples: CellSamples, mbps: number, power?: PowerModel): CellSummary {
  const n = samples.latencyMs.length;
  const bytesPerRequest = n === 0 ? 0 : samples.wireBytes / n;
  const correct = samples.correct;
  return {
    n,
    p50Ms: quantileOrNaN(samples.latencyMs, 0.5),
    p95Ms: quantileOrNaN(samples.latencyMs, 0.95),
    accuracyPct:
      correct === null || correct.length === 0 ? null : (100 * correct.filter(Boolean).length) / correct.length,
    bytesPerRequest,
    edgeMilliJoules: edgeEnergyMilliJoules(
      mean(samples.latencyMs),
      mean(samples.edgeComputeMs),
      bytesPerRequest,
      mbps,
      power,
    ),
    edgeCpuMsPerRequest: n === 0 ? 0 : samples.edgeCpuMs / n,
  };
}

/** One row of results: a model on a device class at a bandwidth, every strategy's summary. */
export interface BandwidthRow {
  /** Device class of the edge (cli/src/device-classes.ts), or `quota-<cores>` for a custom quota. */
  readonly device: string;
  readonly mbps: number;
  readonly cells: Readonly<Partial<Record<Strategy, CellSummary>>>;
  /** The planner's expected latency for the candidate Cleave's plan chose in this cell, ms. */
  readonly cleavePredictedMs?: number;
  /** The candidate the static-split oracle ran; `edge-only` makes it a second edge-only run (the noise check). */
  readonly staticSplit?: string;
}
