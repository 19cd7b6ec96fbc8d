import { describe, expect, it } from 'vitest';
import { lookupPlan, rankCandidates, type CandidateCost, type PlanCandidate, type PlanContext } from '@cleave/proto';
import { buildPlan, dropDominated } from '../src/plan/planner.js';

// Compressed codecs sized as their uncompressed codec: the size the planner assumes without a measured ratio.
const bytes = (f32: number) => {
  const [f16, int8] = [f32 / 2, f32 / 4 + 8];
  return { f32, f16, int8, 'u8-deflate': f32, 'f16-deflate': f16, 'int8-deflate': int8 };
};

// A slow edge and fast cloud, like a gateway and a data-centre replica.
const candidates: PlanCandidate[] = [
  { id: 'edge-only', kind: 'edge-only', bytesPerSample: bytes(0), edgeMs: 120, cloudMs: 0 },
  { id: 'split-01', kind: 'split', bytesPerSample: bytes(400_000), edgeMs: 10, cloudMs: 9 },
  { id: 'split-02', kind: 'split', bytesPerSample: bytes(50_000), edgeMs: 40, cloudMs: 6 },
  { id: 'split-03', kind: 'split', bytesPerSample: bytes(4_000), edgeMs: 90, cloudMs: 2 },
  // Worse than split-02 on every axis: must be dropped.
  { id: 'split-04', kind: 'split', bytesPerSample: bytes(60_000), edgeMs: 45, cloudMs: 7 },
  { id: 'cloud-only', kind: 'cloud-only', bytesPerSample: bytes(600_000), edgeMs: 0, cloudMs: 10 },
];
const ctx: PlanContext = { rttMs: 20, maxPayloadBytes: 8 * 1024 * 1024, codecs: ['f32', 'f16'] };

describe('planner', () => {
  it('drops dominated splits but always keeps edge-only and cloud-only', () => {
    const kept = dropDominated([
      ...candidates,
      { id: 'cloud-2', kind: 'cloud-only', bytesPerSample: bytes(9e6), edgeMs: 0, cloudMs: 99 },
    ]);
    expect(kept.map((c) => c.id)).toEqual(['edge-only', 'split-01', 'split-02', 'split-03', 'cloud-only', 'cloud-2']);
  });

  it('computes latency as edge + transfer + rtt + cloud, and zero network cost for edge-only', () => {
    const [best] = rankCandidates([candidates[2]!], 8, 'latency', { ...ctx, codecs: ['f32'] });
    // (50,000 + 1,024 envelope) bytes × 8 bits at 8 Mbps = 51.024 ms
    expect(best!.transferMs).toBeCloseTo(51.024, 6);
    expect(best!.latencyMs).toBeCloseTo(40 + 51.024 + 20 + 6, 6);
    const [edge] = rankCandidates([candidates[0]!], 8, 'latency', ctx);
    expect(edge!.latencyMs).toBe(120);
    expect(edge!.edgeJoules).toBeCloseTo(3.7 * 0.12, 9);
  });

  it.each(['latency', 'energy', 'balanced'] as const)(
    'the %s plan table agrees with brute-force ranking at every bandwidth',
    (objective) => {
      const plan = buildPlan(candidates, ctx, [objective]);
      const ranges = plan.ranges.filter((r) => r.objective === objective);
      expect(ranges[0]!.minMbps).toBe(0);
      expect(ranges.at(-1)!.maxMbps).toBeNull();
      for (let k = 1; k < ranges.length; k++) expect(ranges[k]!.minMbps).toBe(ranges[k - 1]!.maxMbps);
      for (let e = -2; e <= 4; e += 0.01) {
        const mbps = 10 ** e;
        const range = lookupPlan(plan, objective, mbps)!;
        const ranked = rankCandidates(dropDominated(candidates), mbps, objective, ctx);
        const bestValue = ranked[0]!;
        const chosen = ranked.find((c) => c.candidate === range.candidate && c.codec === range.codec)!;
        const edge = ranked.find((c) => c.candidate === 'edge-only')!;
        const value = (c: CandidateCost): number =>
          objective === 'latency'
            ? c.latencyMs
            : objective === 'energy'
              ? c.edgeJoules
              : 0.5 * (c.latencyMs / edge.latencyMs) + 0.5 * (c.edgeJoules / edge.edgeJoules);
        // At an exact crossing either side is optimal, hence the tolerance.
        expect(value(chosen)).toBeLessThanOrEqual(value(bestValue) * (1 + 1e-9));
      }
    },
  );

  it('uses the split at intermediate bandwidths and edge-only on a slow link, for latency', () => {
    const plan = buildPlan(candidates, ctx, ['latency']);
    expect(lookupPlan(plan, 'latency', 0.13)!.candidate).toBe('edge-only');
    expect(lookupPlan(plan, 'latency', 1000)!.candidate).not.toBe('edge-only');
    expect(plan.candidates).not.toContain('split-04');
  });

  it('counts the measured encoding time of the codec as edge compute, for offloaded requests only', () => {
    const c: PlanCandidate = {
      id: 'split-06',
      kind: 'split',
      bytesPerSample: bytes(100_000),
      edgeMs: 10,
      cloudMs: 2,
      exitRate: 0.5,
      encodeMs: { f32: 0.1, int8: 40 },
    };
    const [f32, int8] = (['f32', 'int8'] as const).map(
      (codec) => rankCandidates([c], 1000, 'latency', { ...ctx, codecs: [codec] })[0]!,
    );
    expect(f32!.edgeMs).toBeCloseTo(10 + 0.5 * 0.1, 9);
    expect(int8!.edgeMs).toBeCloseTo(10 + 0.5 * 40, 9);
    // At 1000 Mbps the bytes int8 saves are worth far less than its 40 ms of quantisation.
    expect(rankCandidates([c], 1000, 'latency', { ...ctx, codecs: ['f32', 'int8'] })[0]!.codec).toBe('f32');
  });

  it('never chooses a payload above max_payload', () => {
    const tight = { ...ctx, maxPayloadBytes: 100_000 };
    const plan = buildPlan(candidates, tight, ['latency']);
    for (const r of plan.ranges) expect(['split-01', 'cloud-only']).not.toContain(r.candidate);
    expect(rankCandidates(candidates, 100, 'latency', tight).every((c) => c.payloadBytes <= 100_000)).toBe(true);
  });

  describe('tails on the edge (staged execution)', () => {
    // A split with exits that answer 80% of requests: the head costs 30 ms, its tail 90 ms on the edge.
    const staged: PlanCandidate[] = [
      ...candidates,
      {
        id: 'split-05',
        kind: 'split',
        bytesPerSample: bytes(100_000),
        edgeMs: 30,
        cloudMs: 8,
        exitRate: 0.8,
        edgeTailMs: 90,
      },
    ];

    it('costs head + (1 − exit rate) × edge tail, with nothing on the wire', () => {
      const option = rankCandidates([staged.at(-1)!], 1, 'latency', ctx).find((c) => c.tailOn === 'edge')!;
      expect(option.latencyMs).toBeCloseTo(30 + 0.2 * 90, 9);
      expect(option).toMatchObject({ transferMs: 0, rttMs: 0, cloudMs: 0, payloadBytes: 0 });
      expect(option.edgeJoules).toBeCloseTo((3.7 * 48) / 1000, 9);
    });

    it('plans it where it beats edge-only and every offload, and marks the range', () => {
      const plan = buildPlan(staged, ctx, ['latency']);
      // At 0.13 Mbps edge-only took 120 ms; staging answers in 48 ms on average.
      expect(lookupPlan(plan, 'latency', 0.13)).toMatchObject({ candidate: 'split-05', tailOn: 'edge' });
      // On a fast link offloading split-05's hard cases is cheaper than running their tail here.
      expect(lookupPlan(plan, 'latency', 10_000)!.tailOn).toBeUndefined();
      for (let e = -2; e <= 4; e += 0.05) {
        const mbps = 10 ** e;
        const range = lookupPlan(plan, 'latency', mbps)!;
        const ranked = rankCandidates(dropDominated(staged), mbps, 'latency', ctx);
        const chosen = ranked.find(
          (c) => c.candidate === range.candidate && c.codec === range.codec && c.tailOn === (range.tailOn ?? 'cloud'),
        )!;
        expect(chosen.latencyMs).toBeLessThanOrEqual(ranked[0]!.latencyMs * (1 + 1e-9));
      }
    });

    it('is never offered without exits, without an edge tail time, or with edgeTails off', () => {
      const noExits = { ...staged.at(-1)!, exitRate: 0 };
      const noTailTime: PlanCandidate = { ...staged.at(-1)!, edgeTailMs: undefined };
      for (const c of [noExits, noTailTime]) {
        expect(rankCandidates([c], 1, 'latency', ctx).some((o) => o.tailOn === 'edge')).toBe(false);
      }
      const plan = buildPlan(staged, { ...ctx, edgeTails: false }, ['latency']);
      expect(plan.ranges.some((r) => r.tailOn === 'edge')).toBe(false);
    });

    it('keeps a split whose exits answer more, even when another beats it on time and bytes', () => {
      const kept = dropDominated([
        { id: 'a', kind: 'split', bytesPerSample: bytes(1000), edgeMs: 5, cloudMs: 5, exitRate: 0 },
        { id: 'b', kind: 'split', bytesPerSample: bytes(2000), edgeMs: 6, cloudMs: 6, exitRate: 0.9, edgeTailMs: 5 },
      ]);
      expect(kept.map((c) => c.id)).toEqual(['a', 'b']);
    });
  });
});
