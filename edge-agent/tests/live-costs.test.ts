// Live re-costing with fake measurements: minimum samples, ratio scaling of candidates not run, and the
// controller's hysteresis (margin and dwell) on the live ranking.
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '@cleave/proto';
import { createLiveCosts, type LiveCostSettings } from '../src/adapt/live-costs.js';
import { type ControlInputs, type ControlSettings, createModelController } from '../src/adapt/model-controller.js';
import { syntheticManifest } from './synthetic-manifest.js';

const live: LiveCostSettings = { minSamples: 5, alpha: 0.2, staleMs: 10_000, margin: 0.1, dwellMs: 500 };

/** The synthetic bundle with profiles: edge-only 10 ms, split-a 4 ms head + 3 ms cloud tail, cloud-only 2 ms. */
function profiled(): BundleManifest {
  const m = syntheticManifest();
  const profile = (edge: number | undefined, cloud: number | undefined) => ({
    ...(edge === undefined ? {} : { edge: { medianMs: edge } }),
    ...(cloud === undefined ? {} : { cloud: { medianMs: cloud } }),
  });
  const profiles: Record<string, ReturnType<typeof profile>> = {
    'edge-only': profile(10, undefined),
    'split-a': profile(4, 3),
    'cloud-only': profile(undefined, 2),
  };
  return {
    ...m,
    candidates: m.candidates.map((c) => ({ ...c, exitRate: c.kind === 'split' ? 0.5 : 0, profile: profiles[c.id]! })),
  } as BundleManifest;
}

describe('live cost estimates', () => {
  it('use the profile until an estimate has minSamples, then the measurement', () => {
    const costs = createLiveCosts(profiled(), live);
    const head = () => costs.view(1000).status.find((c) => c.id === 'split-a')!;
    for (let i = 0; i < 4; i += 1) costs.observe('v000000000001', { split: 'split-a', at: 100 + i, headMs: 8 });
    expect(costs.view(1000).informed).toBe(false);
    expect(head()).toMatchObject({ edgeMs: 4, sources: { edge: 'profile' } });
    costs.observe('v000000000001', { split: 'split-a', at: 105, headMs: 8 });
    expect(costs.view(1000).informed).toBe(true);
    expect(head()).toMatchObject({ edgeMs: 8, sources: { edge: 'live' } });
    console.log(`split-a head after 5 samples of 8 ms: ${head().edgeMs} ms (profile 4 ms)`);
  });

  it('scale candidates not run by the live ÷ profiled ratio of those that ran, and share the queue time', () => {
    const costs = createLiveCosts(profiled(), live);
    for (let i = 0; i < 5; i += 1) {
      costs.observe('v000000000001', {
        split: 'split-a',
        at: i,
        headMs: 8,
        cloud: { queueMs: 5, processingMs: 6 },
        exited: i < 1,
      });
    }
    const view = costs.view(10);
    expect(view.ratios).toMatchObject({ edge: 2, cloud: 2, queueMs: 5 });
    expect(view.ratios.exit).toBeCloseTo(0.4, 6);
    const edgeOnly = view.status.find((c) => c.id === 'edge-only')!;
    const cloudOnly = view.status.find((c) => c.id === 'cloud-only')!;
    expect(edgeOnly).toMatchObject({ edgeMs: 20, sources: { edge: 'scaled' } });
    expect(cloudOnly).toMatchObject({ cloudComputeMs: 4, cloudQueueMs: 5, sources: { cloud: 'scaled' } });
    // Stale own estimates give way to the scaled profile; the ratios remember the last fresh ones.
    const later = costs.view(20_000);
    expect(later.status.find((c) => c.id === 'split-a')).toMatchObject({ edgeMs: 8, sources: { edge: 'scaled' } });
    console.log(
      `ratios ${JSON.stringify(view.ratios)}; edge-only ${edgeOnly.edgeMs} ms, cloud-only ${cloudOnly.cloudComputeMs}+${cloudOnly.cloudQueueMs} ms`,
    );
  });

  it('ignore measurements of another bundle version', () => {
    const costs = createLiveCosts(profiled(), live);
    for (let i = 0; i < 10; i += 1) costs.observe('v999', { split: 'split-a', at: i, headMs: 100 });
    expect(costs.view(10).informed).toBe(false);
  });
});

const settings: ControlSettings = {
  objective: 'latency',
  codecs: ['f32'],
  floorMarginPoints: 0,
  holdMs: 300,
  bandMargin: 0.2,
  live,
};
const at = (now: number, mbps = 5): ControlInputs => ({
  now,
  mbps,
  batteryObjective: 'latency',
  batteryReason: 'test',
});

describe('controller on live costs', () => {
  it('moves cloudward when the device slows, only after the margin held for the dwell time, then stays', () => {
    const manifest = profiled();
    const c = createModelController(manifest, settings);
    // 5 Mbps: the plan's choice is split-a.
    c.update(at(0));
    const start = c.current()!;
    const feed = (from: number, split: string, headMs: number) => {
      for (let i = 0; i < 10; i += 1)
        c.observe(manifest.version, { split, at: from + i, headMs, cloud: { queueMs: 0, processingMs: 3 } });
    };
    // The device runs the split's head at its profiled speed: nothing to gain.
    feed(1, 'split-a', 4);
    c.update(at(1000));
    const first = c.current()!;
    expect(first).toMatchObject({ split: 'split-a', chosenBy: 'plan' });
    // Ten times slower: cloud-only (2 ms + rtt) now wins by far, but not before dwellMs of it.
    feed(2000, 'split-a', 40);
    expect(c.update(at(2100))).toBeUndefined();
    expect(c.update(at(2400))).toBeUndefined();
    const event = c.update(at(2700));
    expect(event?.to).toMatchObject({ split: 'cloud-only', chosenBy: 'live-costs' });
    expect(event?.reason).toMatch(/^live costs at .*edge ×\d/);
    // No flapping: the same estimates give no further switch.
    expect(c.update(at(3500))).toBeUndefined();
    expect(c.update(at(9000))).toBeUndefined();
    console.log(
      `start ${start.split}, after profiled-speed heads ${first.split}; after 10× slower heads: ${event?.reason}`,
    );
  });

  it('switches once the margin held for the dwell, though two challengers trade first place at every update', () => {
    const manifest = profiled();
    const c = createModelController(manifest, settings);
    c.update(at(0));
    expect(c.current()).toMatchObject({ split: 'split-a' });
    // No exit answers on split-a, its replies are not queued, and its head runs at 3.2 or 3.8 ms in turn (0.8 or
    // 0.95 × profile): split-a costs 13 ms, cloud-only 8.7 ms, edge-only 8.2 or 9.3 ms. Both beat split-a by the
    // margin, and they trade first place at every update.
    const leaders = new Set<string>();
    let switched: ReturnType<typeof c.update>;
    for (let step = 0; step < 12 && switched === undefined; step += 1) {
      const t = 1000 + step * 100;
      const headMs = step % 2 === 0 ? 3.2 : 3.8;
      for (let i = 0; i < 10; i += 1) {
        const cloud = { queueMs: 0, processingMs: 3 };
        c.observe(manifest.version, { split: 'split-a', at: t - 50 + i, headMs, cloud, exited: false });
      }
      leaders.add(c.live(at(t))!.ranking[0]!.option);
      switched = c.update(at(t));
      if (switched !== undefined)
        console.log(`switched after ${t - 1000} ms of alternating leaders: ${switched.reason}`);
    }
    expect([...leaders].sort()).toEqual(['cloud-only/f32', 'edge-only/f32']);
    expect(switched?.to).toMatchObject({ chosenBy: 'live-costs' });
    expect(switched!.to.split).not.toBe('split-a');
  });

  it('follows a drop of the exit rate: harder inputs make the split past the exit cost its offloads', () => {
    const manifest = profiled();
    const c = createModelController(manifest, settings);
    c.update(at(0));
    expect(c.current()).toMatchObject({ split: 'split-a', chosenBy: 'plan' });
    // Measured as profiled, with every second request answered by the exit, as calibrated: nothing to gain.
    const feed = (from: number, exitEvery: number) => {
      for (let i = 0; i < 20; i += 1) {
        const exited = i % exitEvery === 0;
        const cloud = exited ? undefined : { queueMs: 0, processingMs: 3 };
        c.observe(manifest.version, { split: 'split-a', at: from + i, headMs: 4, exited, ...(cloud ? { cloud } : {}) });
      }
    };
    feed(100, 2);
    for (let t = 1000; t <= 3000; t += 100) expect(c.update(at(t))).toBeUndefined();
    const calibrated = c.live(at(3000))!.status.find((s) => s.id === 'split-a')!.exitRate;
    expect(Math.abs(calibrated - 0.5)).toBeLessThan(0.1);
    // Harder inputs: one request in twenty exits. Every other one now pays the round trip and the tail.
    let event: ReturnType<typeof c.update>;
    for (let t = 3100; t <= 6000 && event === undefined; t += 100) {
      feed(t - 50, 20);
      event = c.update(at(t));
    }
    expect(event?.to).toMatchObject({ chosenBy: 'live-costs' });
    expect(event!.to.split).not.toBe('split-a');
    expect(event!.reason).toMatch(/exit rate ×0\.[0-4]\d\)/);
    expect(c.live(at(6000))!.status.find((s) => s.id === 'split-a')!.exitRate).toBeLessThan(0.2);
  });

  it('does not switch for a gain inside the margin', () => {
    const manifest = profiled();
    const c = createModelController(manifest, { ...settings, live: { ...live, margin: 10 } });
    c.update(at(0));
    const before = c.current()!.split;
    for (let i = 0; i < 10; i += 1) c.observe(manifest.version, { split: before, at: i, headMs: 40 });
    for (let t = 1000; t < 5000; t += 100) expect(c.update(at(t))).toBeUndefined();
    expect(c.live(at(5000))?.ranking.length).toBeGreaterThan(0);
  });
});
