/**
 * The acceptance targets of the device × uplink × model grid (issue 15), per model, over every (device, uplink)
 * cell. Pure: unit-tested in grid-targets.test.ts. A target whose inputs are missing in a cell is a MISS, never a
 * silent pass.
 */
import type { BandwidthRow, Strategy } from './cell-stats.js';

/** The baselines Cleave is compared with. */
const BASELINES = ['edge-only', 'cloud-raw', 'cloud-png', 'static-split'] as const satisfies readonly Strategy[];

/** Paired accuracy of Cleave and of the full model over the same requests (counts summed over the run). */
export interface PairedAccuracy {
  readonly cleaveCorrect: number;
  readonly fullCorrect: number;
  readonly n: number;
}

/** The result of one acceptance target. */
export interface TargetResult {
  readonly id: 'noise' | 'best-baseline' | 'oracle' | 'wins' | 'prediction' | 'accuracy';
  readonly description: string;
  readonly pass: boolean;
  readonly detail: string;
}

const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const cellName = (r: BandwidthRow): string => `${r.device}@${r.mbps}`;
const p50 = (r: BandwidthRow, s: Strategy): number => r.cells[s]?.p50Ms ?? Number.NaN;

/** The fastest baseline of a cell (NaN when one is missing, so the cell cannot pass). */
export function bestBaseline(row: BandwidthRow): { strategy: Strategy; p50Ms: number } {
  let best: { strategy: Strategy; p50Ms: number } = { strategy: 'edge-only', p50Ms: Number.POSITIVE_INFINITY };
  for (const s of BASELINES) {
    const v = p50(row, s);
    if (!Number.isFinite(v)) return { strategy: s, p50Ms: Number.NaN };
    if (v < best.p50Ms) best = { strategy: s, p50Ms: v };
  }
  return best;
}

/**
 * Where the oracle chose edge-only, the static-split strategy runs the edge-only baseline's code in another process
 * on the same images: two identical configurations, which must agree within 3% for the other targets to mean much.
 */
function noiseCheck(rows: readonly BandwidthRow[]): TargetResult {
  const twins = rows.filter((r) => r.staticSplit === 'edge-only');
  const gaps = twins.map((r) => ({ row: r, gap: p50(r, 'static-split') / p50(r, 'edge-only') - 1 }));
  const far = gaps.filter((g) => !(Math.abs(g.gap) <= 0.03));
  const worst = gaps.reduce((m, g) => Math.max(m, Math.abs(g.gap)), 0);
  return {
    id: 'noise',
    description: 'two identical configurations (edge-only, and the oracle when it chose edge-only) within 3%',
    pass: twins.length > 0 && far.length === 0,
    detail:
      twins.length === 0
        ? 'no cell where the oracle chose edge-only'
        : `${twins.length} such cells, worst ${fmt(100 * worst)}%` +
          (far.length === 0
            ? ''
            : `; beyond 3%: ${far.map((g) => `${cellName(g.row)} ${fmt(p50(g.row, 'static-split'), 2)} vs ${fmt(p50(g.row, 'edge-only'), 2)} ms`).join('; ')}`),
  };
}

/** Checks the grid's targets for one model; `accuracy` only for the trained models. */
export function checkGridTargets(rows: readonly BandwidthRow[], accuracy: PairedAccuracy | null): TargetResult[] {
  const results: TargetResult[] = [noiseCheck(rows)];
  const misses: string[] = [];
  for (const row of rows) {
    const best = bestBaseline(row);
    const ratio = p50(row, 'cleave') / best.p50Ms;
    if (!(ratio <= 1.03)) misses.push(`${cellName(row)} ${fmt(ratio, 2)}× of ${best.strategy}`);
  }
  results.push({
    id: 'best-baseline',
    description: "Cleave p50 ≤ 1.03 × the best baseline's in every cell",
    pass: rows.length > 0 && misses.length === 0,
    detail:
      misses.length === 0
        ? `all ${rows.length} cells`
        : `${misses.length} of ${rows.length} miss: ${misses.join('; ')}`,
  });

  const oracleCells = rows.filter(
    (r) => p50(r, 'static-split') < Math.min(p50(r, 'edge-only'), p50(r, 'cloud-raw'), p50(r, 'cloud-png')),
  );
  const oracleMisses = oracleCells.filter((r) => !(p50(r, 'cleave') <= 1.05 * p50(r, 'static-split')));
  results.push({
    id: 'oracle',
    description: 'where the oracle split beats edge-only and both cloud-only strategies, Cleave within 5% of it',
    pass: oracleMisses.length === 0,
    detail:
      oracleCells.length === 0
        ? 'no such cell'
        : `${oracleCells.length} such cells` +
          (oracleMisses.length === 0
            ? ''
            : `; misses: ${oracleMisses.map((r) => `${cellName(r)} ${fmt(p50(r, 'cleave'))} vs ${fmt(p50(r, 'static-split'))} ms`).join('; ')}`),
  });

  const wins = rows.filter((r) => 1.2 * p50(r, 'cleave') <= bestBaseline(r).p50Ms);
  results.push({
    id: 'wins',
    description: 'cells where Cleave beats every baseline by ≥ 1.2× (counted, not a pass/fail target)',
    pass: true,
    detail:
      wins.length === 0
        ? 'none'
        : `${wins.length}: ${wins.map((r) => `${cellName(r)} ${fmt(bestBaseline(r).p50Ms / p50(r, 'cleave'), 2)}×`).join('; ')}`,
  });

  const errors = rows.map((r) => ({
    row: r,
    error: Math.abs((r.cleavePredictedMs ?? Number.NaN) / p50(r, 'cleave') - 1),
  }));
  const far = errors.filter((e) => !(e.error <= 0.15));
  results.push({
    id: 'prediction',
    description: "the planner's predicted latency of its choice within 15% of Cleave's measured p50 in every cell",
    pass: rows.length > 0 && far.length === 0,
    detail:
      far.length === 0
        ? `all ${rows.length} cells`
        : `${far.length} of ${rows.length} off: ${far.map((e) => `${cellName(e.row)} ${fmt(e.row.cleavePredictedMs ?? Number.NaN)} predicted vs ${fmt(p50(e.row, 'cleave'))} ms`).join('; ')}`,
  });

  if (accuracy !== null) {
    const cleavePct = (100 * accuracy.cleaveCorrect) / accuracy.n;
    const fullPct = (100 * accuracy.fullCorrect) / accuracy.n;
    results.push({
      id: 'accuracy',
      description: 'Cleave accuracy within 1 point of the full model (same images)',
      pass: accuracy.n > 0 && fullPct - cleavePct <= 1,
      detail: `${fmt(cleavePct, 2)}% vs ${fmt(fullPct, 2)}% on ${accuracy.n} images (${fmt(cleavePct - fullPct, 2)} pt)`,
    });
  }
  return results;
}
