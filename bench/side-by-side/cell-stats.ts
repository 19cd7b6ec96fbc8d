/**
 * Pure arithmetic of the side-by-side bench: per-cell summaries (percentiles by the shared nearest-rank quantile of
 * `@cleave/proto`), the edge energy estimate and the issue's acceptance targets. No I/O, so it is unit-tested
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
  cleave: 'Cleave (adaptive split + exits + int8)',
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
  };
}

/** One row of results: a model at a bandwidth, every strategy's summary. */
export interface BandwidthRow {
  readonly mbps: number;
  readonly cells: Readonly<Partial<Record<Strategy, CellSummary>>>;
}

/** The result of one acceptance target. */
export interface TargetResult {
  readonly id: 'a' | 'b' | 'c' | 'd';
  readonly description: string;
  readonly pass: boolean;
  readonly detail: string;
}

/** Paired accuracy of Cleave and of the full model over the same requests (counts summed over the run). */
export interface PairedAccuracy {
  readonly cleaveCorrect: number;
  readonly fullCorrect: number;
  readonly n: number;
}

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/**
 * Checks the issue's four benchmark targets for one model. Accuracy (c) is checked only when `accuracy` is given
 * (the example model); targets whose inputs are missing in a row are a MISS, never a silent pass.
 */
export function checkTargets(rows: readonly BandwidthRow[], accuracy: PairedAccuracy | null): TargetResult[] {
  const results: TargetResult[] = [];
  const aFails: string[] = [];
  const aParts: string[] = [];
  for (const row of rows) {
    const c = row.cells.cleave?.p50Ms;
    const best = Math.min(row.cells['edge-only']?.p50Ms ?? Number.NaN, row.cells['cloud-raw']?.p50Ms ?? Number.NaN);
    const ok = c !== undefined && Number.isFinite(best) && c <= best;
    aParts.push(`${row.mbps}: ${fmt(c ?? Number.NaN)} vs ${fmt(best)}`);
    if (!ok) aFails.push(String(row.mbps));
  }
  results.push({
    id: 'a',
    description: 'Cleave p50 ≤ min(edge-only, cloud-raw) p50 at every bandwidth',
    pass: rows.length > 0 && aFails.length === 0,
    detail: `${aParts.join('; ')} ms${aFails.length > 0 ? ` — fails at ${aFails.join(', ')} Mbps` : ''}`,
  });

  const low = rows.filter((r) => r.mbps <= 1.1);
  const bParts = low.map((r) => {
    const ratio = (r.cells['cloud-raw']?.p50Ms ?? Number.NaN) / (r.cells.cleave?.p50Ms ?? Number.NaN);
    return { mbps: r.mbps, ratio };
  });
  results.push({
    id: 'b',
    description: 'Cleave p50 ≥ 2× lower than cloud-raw at ≤ 1.1 Mbps',
    pass: bParts.length > 0 && bParts.every((p) => p.ratio >= 2),
    detail:
      bParts.length === 0
        ? 'no bandwidth ≤ 1.1 Mbps in the run'
        : bParts.map((p) => `${p.mbps}: ${fmt(p.ratio, 1)}×`).join('; '),
  });

  if (accuracy !== null) {
    const cleavePct = (100 * accuracy.cleaveCorrect) / accuracy.n;
    const fullPct = (100 * accuracy.fullCorrect) / accuracy.n;
    results.push({
      id: 'c',
      description: 'Cleave accuracy within 1 point of the full model (same images)',
      pass: accuracy.n > 0 && fullPct - cleavePct <= 1,
      detail: `${fmt(cleavePct)}% vs ${fmt(fullPct)}% on ${accuracy.n} images (${fmt(cleavePct - fullPct)} pt)`,
    });
  }

  const rawBytes = mean(rows.map((r) => r.cells['cloud-raw']?.bytesPerRequest ?? Number.NaN));
  const cleaveBytes = mean(rows.map((r) => r.cells.cleave?.bytesPerRequest ?? Number.NaN));
  const ratio = rawBytes / cleaveBytes;
  results.push({
    id: 'd',
    description: 'Cleave bytes/request ≥ 4× lower than cloud-raw, averaged over the run',
    pass: Number.isFinite(rawBytes) && (ratio >= 4 || (cleaveBytes === 0 && rawBytes > 0)),
    detail: `${fmt(cleaveBytes, 0)} B vs ${fmt(rawBytes, 0)} B (${cleaveBytes === 0 ? '∞' : fmt(ratio, 1)}×)`,
  });
  return results;
}
