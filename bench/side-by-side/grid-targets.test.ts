// Unit tests of the grid's acceptance targets. Run: npx vitest run --root bench/side-by-side
import { describe, expect, it } from 'vitest';
import type { BandwidthRow, CellSummary } from './cell-stats.js';
import { bestBaseline, checkGridTargets } from './grid-targets.js';

const cell = (p50Ms: number): CellSummary => ({
  n: 10,
  p50Ms,
  p95Ms: p50Ms * 2,
  accuracyPct: null,
  bytesPerRequest: 100,
  edgeMilliJoules: 1,
  edgeCpuMsPerRequest: 1,
});
const row = (device: string, mbps: number, ms: [number, number, number, number, number], predicted?: number) =>
  ({
    device,
    mbps,
    cells: {
      'edge-only': cell(ms[0]),
      'cloud-raw': cell(ms[1]),
      'cloud-png': cell(ms[2]),
      'static-split': cell(ms[3]),
      cleave: cell(ms[4]),
    },
    ...(predicted === undefined ? {} : { cleavePredictedMs: predicted }),
  }) satisfies BandwidthRow;

describe('checkGridTargets', () => {
  it('passes when Cleave is at most 3% behind the best baseline and its prediction within 15%', () => {
    const rows = [row('pi', 1.1, [100, 300, 200, 90, 92], 100), row('gateway', 100, [40, 30, 25, 35, 25.5], 24)];
    const t = checkGridTargets(rows, { cleaveCorrect: 91, fullCorrect: 92, n: 100 });
    expect(t.map((x) => [x.id, x.pass])).toEqual([
      ['noise', false],
      ['best-baseline', true],
      ['oracle', true],
      ['wins', true],
      ['prediction', true],
      ['accuracy', true],
    ]);
    expect(t.find((x) => x.id === 'oracle')!.detail).toBe('1 such cells');
  });
  it('names the cells that miss, and counts the ≥ 1.2× wins', () => {
    const rows = [row('pi', 1.1, [100, 300, 200, 90, 95], 60), row('constrained', 5.85, [100, 80, 60, 70, 40], 41)];
    const t = checkGridTargets(rows, { cleaveCorrect: 90, fullCorrect: 92, n: 100 });
    const by = Object.fromEntries(t.map((x) => [x.id, x]));
    expect(by['best-baseline']!.pass).toBe(false);
    expect(by['best-baseline']!.detail).toContain('pi@1.1 1.06× of static-split');
    expect(by.oracle!.pass).toBe(false);
    expect(by.wins!.detail).toBe('1: constrained@5.85 1.50×');
    expect(by.prediction!.detail).toContain('pi@1.1 60.0 predicted vs 95.0 ms');
    expect(by.accuracy!.pass).toBe(false);
  });
  it('compares the oracle with edge-only where it chose edge-only: the noise between identical runs', () => {
    const twin = (edge: number, oracle: number, mbps: number): BandwidthRow => ({
      ...row('pi', mbps, [edge, 300, 200, oracle, 95]),
      staticSplit: 'edge-only',
    });
    const near = checkGridTargets([twin(100, 102, 1.1), { ...twin(100, 50, 5.85), staticSplit: 'split-3' }], null);
    expect(near[0]).toMatchObject({ id: 'noise', pass: true, detail: '1 such cells, worst 2.0%' });
    const far = checkGridTargets([twin(100, 102, 1.1), twin(100, 95, 5.85)], null)[0]!;
    expect(far.pass).toBe(false);
    expect(far.detail).toBe('2 such cells, worst 5.0%; beyond 3%: pi@5.85 95.00 vs 100.00 ms');
  });
  it('misses a cell with a missing strategy or prediction, and skips accuracy when not measured', () => {
    const partial: BandwidthRow = { device: 'pi', mbps: 1, cells: { cleave: cell(1) } };
    expect(bestBaseline(partial).p50Ms).toBeNaN();
    const t = checkGridTargets([partial], null);
    expect(t.find((x) => x.id === 'best-baseline')!.pass).toBe(false);
    expect(t.find((x) => x.id === 'prediction')!.pass).toBe(false);
    expect(t.map((x) => x.id)).not.toContain('accuracy');
  });
});
