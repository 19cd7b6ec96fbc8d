// Unit tests of the side-by-side bench's pure logic: cell summaries, energy, the static split
// choice, cell sizing and table formatting. Run: npx vitest run --root bench/side-by-side
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '@cleave/proto';
import { bestStaticSplit, requestsForCell } from './bench-plan.js';
import { formatBytes, markdownTable } from './bench-report.js';
import { edgeEnergyMilliJoules, summariseCell, type CellSummary } from './cell-stats.js';

const cell = (p50Ms: number, bytesPerRequest = 0): CellSummary => ({
  n: 10,
  p50Ms,
  p95Ms: p50Ms * 2,
  accuracyPct: null,
  bytesPerRequest,
  edgeMilliJoules: 1,
  edgeCpuMsPerRequest: 1,
});

describe('edge energy', () => {
  it('charges compute, radio and idle time with the power model', () => {
    // 10 ms compute, 1000 B at 1 Mbps = 8 ms radio, the remaining 2 ms idle.
    const mj = edgeEnergyMilliJoules(20, 10, 1000, 1, { computeWatts: 2, radioWatts: 1, idleWatts: 0.5 });
    expect(mj).toBeCloseTo(2 * 10 + 1 * 8 + 0.5 * 2);
  });
  it('never charges negative idle time', () => {
    expect(edgeEnergyMilliJoules(5, 5, 10_000, 1, { computeWatts: 1, radioWatts: 1, idleWatts: 1 })).toBeCloseTo(
      5 + 80,
    );
  });
});

describe('summariseCell', () => {
  it('reports percentiles, accuracy and bytes per request', () => {
    const s = summariseCell(
      {
        latencyMs: [1, 2, 3, 4],
        edgeComputeMs: [1, 1, 1, 1],
        correct: [true, true, false, true],
        wireBytes: 400,
        edgeCpuMs: 8,
      },
      10,
    );
    expect(s).toMatchObject({
      n: 4,
      p50Ms: 2,
      p95Ms: 4,
      accuracyPct: 75,
      bytesPerRequest: 100,
      edgeCpuMsPerRequest: 2,
    });
  });
  it('has no percentiles for a cell without samples', () => {
    const s = summariseCell({ latencyMs: [], edgeComputeMs: [], correct: null, wireBytes: 0, edgeCpuMs: 0 }, 1);
    expect(s.p50Ms).toBeNaN();
    expect(s.p95Ms).toBeNaN();
  });
  it('leaves accuracy out when it is not measured', () => {
    expect(
      summariseCell({ latencyMs: [1], edgeComputeMs: [1], correct: null, wireBytes: 0, edgeCpuMs: 0 }, 1).accuracyPct,
    ).toBeNull();
  });
});

describe('bestStaticSplit', () => {
  const candidate = (id: string, kind: string, edgeMs: number, cloudMs: number, f32: number, exits: string[] = []) => ({
    id,
    kind,
    exits,
    bytesPerSample: { f32, f16: f32 / 2, int8: f32 / 4 },
    profile: { edge: { medianMs: edgeMs }, cloud: { medianMs: cloudMs } },
  });
  const manifest = {
    model: { id: 'm' },
    plan: { maxPayloadBytes: 1e6 },
    candidates: [
      candidate('edge-only', 'edge-only', 100, 0, 0, ['exit_1']),
      candidate('split-1', 'split', 10, 5, 10_000),
      candidate('split-exit', 'split', 1, 1, 10, ['exit_1']),
      candidate('cloud-only', 'cloud-only', 0, 10, 600_000),
    ],
  } as unknown as BundleManifest;
  it('picks from measured profiles, f32, never a head with exits', () => {
    expect(bestStaticSplit(manifest, 0.13, 20).candidate).toBe('edge-only');
    expect(bestStaticSplit(manifest, 10, 20).candidate).toBe('split-1');
    expect(bestStaticSplit(manifest, 10_000, 20).candidate).toBe('cloud-only');
  });
});

describe('requestsForCell', () => {
  it('cuts slow cells to the budget but not below the minimum', () => {
    expect(requestsForCell(300, 1, 40_000, 3)).toBe(300);
    expect(requestsForCell(300, 200, 40_000, 3)).toBe(200);
    expect(requestsForCell(30, 37_000, 40_000, 3)).toBe(3);
    expect(requestsForCell(2, 37_000, 40_000, 3)).toBe(2);
  });
});

describe('report formatting', () => {
  it('formats bytes with units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(3312)).toBe('3.31 kB');
    expect(formatBytes(606_258)).toBe('606 kB');
    expect(formatBytes(1_500_000)).toBe('1.50 MB');
  });
  it('writes one row per strategy with the notes', () => {
    const table = markdownTable(
      [{ device: 'pi', mbps: 1.1, cells: { 'edge-only': cell(1), cleave: cell(0.5) }, cleavePredictedMs: 0.55 }],
      { 'pi@1.1': { cleave: 'edge:exit_1 80%' } },
      false,
    );
    const lines = table.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain('**Cleave');
    expect(lines[3]).toContain('edge:exit_1 80%');
    expect(lines[3]).toMatch(/^\| pi \| 1\.1 \|.*\| 0\.55 \|/);
    expect(lines[0]).not.toContain('accuracy');
  });
});
