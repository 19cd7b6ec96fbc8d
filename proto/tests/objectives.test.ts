import { describe, expect, it } from 'vitest';
import { CODECS } from '../src/codecs.js';
import { costAt, edgeOnlyCost, type PlanCandidate, type PlanContext, rankCandidates } from '../src/cost-model.js';
import {
  type Objective,
  OBJECTIVE_MODES,
  OBJECTIVE_SPECS,
  objectiveSpec,
  OBJECTIVES,
  ObjectiveModeSchema,
  ObjectiveSchema,
} from '../src/objectives.js';

const ctx: PlanContext = { rttMs: 20, maxPayloadBytes: 8 * 1024 * 1024, codecs: CODECS };

// One candidate of each kind; the split has exits, an edge tail and encode times, so every term of the cost runs.
const candidates: PlanCandidate[] = [
  {
    id: 'edge-only',
    kind: 'edge-only',
    bytesPerSample: { f32: 0, f16: 0, int8: 0, 'u8-deflate': 0, 'f16-deflate': 0, 'int8-deflate': 0 },
    edgeMs: 9,
    cloudMs: 0,
  },
  {
    id: 'split-01',
    kind: 'split',
    bytesPerSample: {
      f32: 40_000,
      f16: 20_000,
      int8: 10_008,
      'u8-deflate': 40_000,
      'f16-deflate': 20_000,
      'int8-deflate': 10_008,
    },
    edgeMs: 2,
    cloudMs: 1.5,
    exitRate: 0.4,
    edgeTailMs: 6,
    encodeMs: { f32: 0.01, f16: 0.2, int8: 0.5 },
  },
  {
    id: 'cloud-only',
    kind: 'cloud-only',
    bytesPerSample: { f32: 3136, f16: 1568, int8: 792, 'u8-deflate': 3136, 'f16-deflate': 1568, 'int8-deflate': 792 },
    edgeMs: 0,
    cloudMs: 2,
  },
];

// Every option the planner weighs: each candidate under each codec, and the split staged on the edge.
const options = candidates.flatMap((c) => [
  ...CODECS.map((codec) => ({ label: `${c.id}/${codec}`, c, codec, tailOn: 'cloud' as const })),
  ...(c.kind === 'split' ? [{ label: `${c.id}/edge-tail`, c, codec: CODECS[0], tailOn: 'edge' as const }] : []),
]);

describe('objective registry', () => {
  it('has exactly one spec per objective, and the modes are auto plus the objectives', () => {
    expect(Object.keys(OBJECTIVE_SPECS).sort()).toEqual([...OBJECTIVES].sort());
    expect(OBJECTIVE_MODES).toEqual(['auto', ...OBJECTIVES]);
    expect(new Set(OBJECTIVES.map((o) => OBJECTIVE_SPECS[o].batteryRank)).size).toBe(OBJECTIVES.length);
  });

  it('rejects an unknown objective instead of scoring it like another', () => {
    expect(ObjectiveSchema.safeParse('fun').success).toBe(false);
    expect(ObjectiveModeSchema.safeParse('fun').success).toBe(false);
    expect(ObjectiveModeSchema.parse('auto')).toBe('auto');
    expect(() => objectiveSpec('fun' as Objective)).toThrow(
      new RangeError('unknown objective "fun"; expected one of latency, energy, balanced'),
    );
    expect(() => rankCandidates(candidates, 10, 'fun' as Objective, ctx)).toThrow(RangeError);
  });

  it.each(OBJECTIVES)('scores every option under %s affinely in 1/bandwidth', (objective) => {
    const spec = OBJECTIVE_SPECS[objective];
    // Evenly spaced x = 1/Mbps from 100 Mbps down to 0.1 Mbps: a second difference of an affine function is 0.
    const xs = Array.from({ length: 8 }, (_, i) => 0.01 + (i * (10 - 0.01)) / 7);
    for (const { label, c, codec, tailOn } of options) {
      const values = xs.map((x) =>
        spec.score(costAt(c, codec, 1 / x, ctx, tailOn), edgeOnlyCost(candidates, 1 / x, ctx)),
      );
      const scale = Math.max(...values.map(Math.abs), 1e-12);
      for (let i = 1; i + 1 < values.length; i++) {
        const second = values[i - 1]! - 2 * values[i]! + values[i + 1]!;
        expect(Math.abs(second) / scale, `${objective} ${label} at x = ${xs[i]}`).toBeLessThan(1e-9);
      }
    }
  });

  it('lets latency keep the calibrated budget, balanced add a point and energy spend without limit', () => {
    expect(OBJECTIVE_SPECS.latency.extraBudgetPoints).toBe(0);
    expect(OBJECTIVE_SPECS.balanced.extraBudgetPoints).toBe(1);
    expect(OBJECTIVE_SPECS.energy.extraBudgetPoints).toBe(Number.POSITIVE_INFINITY);
  });
});
