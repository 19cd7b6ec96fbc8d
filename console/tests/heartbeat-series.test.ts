// The per-agent page's series: one point per beat or per time bucket, where requests ran, idle intervals as null
// (not 0), and a marker at each change of split, codec, objective or version between consecutive beats.
import { describe, expect, it } from 'vitest';
import { type HeartbeatModelStats, PROTOCOL_VERSION } from '@cleave/proto';
import { buildHeartbeatSeries, changeMarkers, type HistoryBeat } from '../src/history/heartbeat-series.js';

function stats(overrides: Partial<HeartbeatModelStats> = {}): HeartbeatModelStats {
  return {
    model: 'm',
    version: 'v1',
    split: 'split-1',
    codec: 'f32',
    exitRate: 0.5,
    p50Ms: 10,
    p95Ms: 20,
    offloads: 3,
    fallbacks: 1,
    requests: 10,
    exits: 5,
    cloud: 2,
    objective: 'latency',
    ...overrides,
  };
}

function beat(t: number, model: Partial<HeartbeatModelStats> = {}, extra: Partial<HistoryBeat['heartbeat']> = {}) {
  return {
    t,
    heartbeat: {
      kind: 'heartbeat',
      v: PROTOCOL_VERSION,
      agentId: 'a1',
      sentAt: t,
      models: [stats(model)],
      bandwidthMbps: 5,
      rttMs: 40,
      battery: { level: 0.8, charging: false },
      ...extra,
    },
  } satisfies HistoryBeat;
}

describe('buildHeartbeatSeries', () => {
  it('gives one point per beat with where requests ran, estimates and battery', () => {
    const s = buildHeartbeatSeries([beat(1000), beat(2000, { requests: 0, exits: 0, cloud: 0, fallbacks: 0 })], {
      from: 0,
      to: 3000,
    });
    expect(s.model).toBe('m');
    expect(s.points).toHaveLength(2);
    expect(s.points[0]).toEqual({
      t: 1000,
      beats: 1,
      requests: 10,
      ranOn: { edgeExit: 5, edgeTail: 2, cloud: 2, fallback: 1 },
      exitRate: 0.5,
      p50Ms: 10,
      p95Ms: 20,
      bandwidthMbpsEstimate: 5,
      rttMsEstimate: 40,
      battery: 0.8,
    });
    // An idle interval has no rate or latency: null, not 0.
    expect(s.points[1]).toMatchObject({ requests: 0, exitRate: null, p50Ms: null, p95Ms: null });
  });

  it('derives exits and cloud answers for agents that did not report them', () => {
    const s = buildHeartbeatSeries([beat(1, { exits: undefined, cloud: undefined, exitRate: 0.3 })], {
      from: 0,
      to: 2,
    });
    expect(s.points[0]!.ranOn).toEqual({ edgeExit: 3, cloud: 2, fallback: 1, edgeTail: 4 });
  });

  it('groups more beats than points into time buckets, summing counts', () => {
    const beats = Array.from({ length: 100 }, (_, i) => beat(i * 10, { p95Ms: i === 42 ? 500 : 20 }));
    const s = buildHeartbeatSeries(beats, { from: 0, to: 1000 }, { maxPoints: 10 });
    expect(s.beats).toBe(100);
    expect(s.points).toHaveLength(10);
    expect(s.points.every((p) => p.beats === 10 && p.requests === 100)).toBe(true);
    expect(s.points[0]!.ranOn.edgeExit).toBe(50);
    expect(s.points[0]!.exitRate).toBe(0.5);
    // p95 over a bucket is its largest p95, so a spike stays visible.
    expect(s.points[4]!.p95Ms).toBe(500);
    expect(s.points[4]!.t).toBe(490);
  });

  it('leaves out beats outside the window and gives an empty series without data', () => {
    expect(buildHeartbeatSeries([beat(5)], { from: 10, to: 20 })).toEqual({
      model: null,
      models: [],
      points: [],
      markers: [],
      beats: 0,
    });
  });

  it('follows the requested model and lists every model seen', () => {
    const two = beat(1, {}, {});
    const s = buildHeartbeatSeries(
      [{ ...two, heartbeat: { ...two.heartbeat, models: [stats(), stats({ model: 'n', requests: 4, exits: 4 })] } }],
      { from: 0, to: 2 },
      { model: 'n' },
    );
    expect(s.models).toEqual(['m', 'n']);
    expect(s.points[0]).toMatchObject({ requests: 4, exitRate: 1 });
  });

  it('refuses a bad point count', () => {
    expect(() => buildHeartbeatSeries([], { from: 0, to: 1 }, { maxPoints: 0 })).toThrow(RangeError);
  });
});

describe('changeMarkers', () => {
  it('marks each change of split, codec, objective and version at the later beat, with its reason', () => {
    const markers = changeMarkers(
      [
        beat(1),
        beat(2),
        beat(3, { split: 'split-2', codec: 'f16', reason: 'bandwidth fell to 1 Mbps' }),
        beat(4, { split: 'split-2', codec: 'f16', tailOn: 'edge' }),
        beat(5, { split: 'split-2', codec: 'f16', tailOn: 'edge', objective: 'energy', version: 'v2' }),
      ],
      'm',
    );
    expect(markers).toEqual([
      { t: 3, kind: 'split', from: 'split-1', to: 'split-2', reason: 'bandwidth fell to 1 Mbps' },
      { t: 3, kind: 'codec', from: 'f32', to: 'f16', reason: 'bandwidth fell to 1 Mbps' },
      { t: 4, kind: 'split', from: 'split-2', to: 'split-2 (edge tail)', reason: null },
      { t: 5, kind: 'objective', from: 'latency', to: 'energy', reason: null },
      { t: 5, kind: 'version', from: 'v1', to: 'v2', reason: null },
    ]);
  });

  it('compares only beats that carry the model', () => {
    const none = beat(2);
    const markers = changeMarkers(
      [beat(1), { ...none, heartbeat: { ...none.heartbeat, models: [] } }, beat(3, { split: 'split-3' })],
      'm',
    );
    expect(markers.map((m) => [m.t, m.to])).toEqual([[3, 'split-3']]);
  });
});
