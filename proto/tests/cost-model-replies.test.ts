// The cost model prices the reply as well as the request: its bytes travel down at uplink × downlinkRatio, and an
// option whose reply would exceed the payload limit is infeasible.
import { describe, expect, it } from 'vitest';
import { costAt, type PlanCandidate, type PlanContext, rankCandidates, replyBytes } from '../src/cost-model.js';
import { CODEC_SPECS, mapCodecs } from '../src/codecs.js';

const ctx: PlanContext = { rttMs: 10, maxPayloadBytes: 100_000, codecs: ['f32', 'f16'], envelopeBytes: 1000 };
const split = (replyF32: number): PlanCandidate => ({
  id: 'split-01',
  kind: 'split',
  bytesPerSample: { f32: 4000, f16: 2000, int8: 1008, 'u8-deflate': 4000, 'f16-deflate': 2000, 'int8-deflate': 1008 },
  replyBytesPerSample: mapCodecs((codec) => (CODEC_SPECS[codec].replyCodec === 'f32' ? replyF32 : replyF32 / 2)),
  edgeMs: 5,
  cloudMs: 5,
});

describe('reply bytes in the cost model', () => {
  it('sizes a reply per request codec: floats in the reply codec, other dtypes raw', () => {
    const outputs = [
      { dtype: 'float32', elementsPerSample: 10 },
      { dtype: 'int64', elementsPerSample: 3 },
      { dtype: 'bool', elementsPerSample: 5 },
    ];
    // f32 → f32 (4 B), f16 → f16 (2 B), int8 → f16 (replies are never quantised); int64 8 B and bool 1 B raw.
    expect(replyBytes(outputs)).toEqual({
      f32: 40 + 24 + 5,
      f16: 20 + 24 + 5,
      int8: 20 + 24 + 5,
      'u8-deflate': 40 + 24 + 5,
      'f16-deflate': 20 + 24 + 5,
      'int8-deflate': 20 + 24 + 5,
    });
    expect(replyBytes([])).toEqual({ f32: 0, f16: 0, int8: 0, 'u8-deflate': 0, 'f16-deflate': 0, 'int8-deflate': 0 });
    expect(replyBytes([{ dtype: 'complex64', elementsPerSample: 2 }]).f32).toBe(16);
    expect(() => replyBytes([{ dtype: 'float32', elementsPerSample: 1.5 }])).toThrow(RangeError);
  });

  it('makes a candidate whose f32 reply exceeds maxPayloadBytes infeasible in f32 and feasible in f16', () => {
    const big = split(150_000);
    const f32 = costAt(big, 'f32', 10, ctx);
    const f16 = costAt(big, 'f16', 10, ctx);
    expect(f32.payloadBytes).toBe(5000); // the request fits
    expect(f32.replyPayloadBytes).toBe(151_000);
    expect(f32.feasible).toBe(false);
    expect(f16.replyPayloadBytes).toBe(76_000);
    expect(f16.feasible).toBe(true);
    const ranked = rankCandidates([big], 10, 'latency', ctx);
    expect(ranked.map((o) => o.codec)).toEqual(['f16']);
  });

  it('counts the reply envelope against the limit', () => {
    expect(costAt(split(99_000), 'f32', 10, ctx).feasible).toBe(true);
    expect(costAt(split(99_001), 'f32', 10, ctx).feasible).toBe(false);
  });

  it('doubles the reply transfer time when the downlink is half the uplink', () => {
    const c = split(40_000);
    const noReply = costAt(
      { ...c, replyBytesPerSample: { f32: 0, f16: 0, int8: 0, 'u8-deflate': 0, 'f16-deflate': 0, 'int8-deflate': 0 } },
      'f32',
      8,
      ctx,
    ).transferMs;
    const even = costAt(c, 'f32', 8, ctx).transferMs - noReply;
    const half = costAt(c, 'f32', 8, { ...ctx, downlinkRatio: 0.5 }).transferMs - noReply;
    expect(even).toBeCloseTo((40_000 * 8) / 8000, 9);
    expect(half).toBeCloseTo(2 * even, 9);
    // The request's time does not depend on the downlink.
    expect(noReply).toBeCloseTo((5000 * 8) / 8000, 9);
  });

  it('costs a candidate without reply sizes (an older bundle) as before: no reply time', () => {
    const { replyBytesPerSample, ...old } = split(40_000);
    expect(replyBytesPerSample).toBeDefined();
    const cost = costAt(old, 'f32', 8, ctx);
    expect(cost.transferMs).toBeCloseTo((5000 * 8) / 8000, 9);
    expect(cost.replyPayloadBytes).toBe(1000);
    expect(cost.feasible).toBe(true);
  });

  it('scales the reply by the share of requests that leave the edge, and refuses a bad downlinkRatio', () => {
    const c = { ...split(40_000), exitRate: 0.75 };
    const all = costAt(split(40_000), 'f32', 8, ctx).transferMs;
    expect(costAt(c, 'f32', 8, ctx).transferMs).toBeCloseTo(all / 4, 9);
    expect(() => costAt(c, 'f32', 8, { ...ctx, downlinkRatio: 0 })).toThrow(RangeError);
  });

  it('sends and receives nothing for edge-only', () => {
    const edge: PlanCandidate = { ...split(1e9), id: 'edge-only', kind: 'edge-only' };
    expect(costAt(edge, 'f32', 1, ctx)).toMatchObject({ transferMs: 0, replyPayloadBytes: 0, feasible: true });
  });
});
