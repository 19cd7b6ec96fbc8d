import { describe, expect, it } from 'vitest';
import { createBandwidthEstimator } from '../src/adapt/bandwidth-estimator.js';
import { type ControlInputs, type ControlSettings, createModelController } from '../src/adapt/model-controller.js';
import { syntheticManifest } from './synthetic-manifest.js';

const settings: ControlSettings = {
  objective: 'auto',
  codecs: ['f32', 'f16', 'int8'],
  floorMarginPoints: 0,
  holdMs: 300,
  bandMargin: 0.2,
};

function inputs(now: number, mbps: number, battery: ControlInputs['batteryObjective'] = 'latency'): ControlInputs {
  return { now, mbps, batteryObjective: battery, batteryReason: 'test' };
}

describe('model controller: plan lookup', () => {
  it('starts on the plan range of the measured bandwidth, with the calibrated operating point', () => {
    const c = createModelController(syntheticManifest(), settings);
    const first = c.update(inputs(0, 5));
    expect(first?.reason).toMatch(/^initial decision/);
    expect(c.current()).toMatchObject({
      split: 'split-a',
      codec: 'f16',
      objective: 'latency',
      budgetPoints: 1,
      range: { minMbps: 2, maxMbps: 12 },
      thresholds: { exit_1: expect.closeTo(0.8, 6) as number },
    });
  });

  it('follows a plan range that keeps the tail on the edge, and offloads again when the plan says so', () => {
    const manifest = syntheticManifest();
    const staged = {
      ...manifest,
      plan: {
        ...manifest.plan,
        ranges: manifest.plan.ranges.map((r) =>
          r.objective === 'latency' && r.candidate === 'split-a' ? { ...r, tailOn: 'edge' as const } : r,
        ),
      },
    };
    const c = createModelController(staged, settings);
    const first = c.update(inputs(0, 5));
    expect(c.current()).toMatchObject({ split: 'split-a', tailOn: 'edge' });
    expect(first?.reason).toContain('split-a/edge-tail');
    c.update(inputs(1000, 50));
    c.update(inputs(2000, 50));
    expect(c.current()).toMatchObject({ split: 'cloud-only', tailOn: 'cloud' });
    // A pinned split always offloads: pins are for steering traffic to the cloud.
    const pinned = createModelController(staged, { ...settings, pin: 'split-a' });
    pinned.update(inputs(0, 5));
    expect(pinned.current()).toMatchObject({ split: 'split-a', tailOn: 'cloud' });
  });

  it('uses the first allowed codec when the plan picks one the policy forbids, and obeys a forced codec', () => {
    const c = createModelController(syntheticManifest(), { ...settings, codecs: ['int8', 'f32'] });
    c.update(inputs(0, 5));
    expect(c.current()?.codec).toBe('int8');
    c.setSettings({ ...settings, codec: 'f32' });
    c.update(inputs(1, 5));
    expect(c.current()?.codec).toBe('f32');
  });

  it('a pinned split ignores bandwidth; an unknown pin falls back to the plan and says so', () => {
    const c = createModelController(syntheticManifest(), { ...settings, pin: 'cloud-only' });
    c.update(inputs(0, 0.1));
    expect(c.current()).toMatchObject({ split: 'cloud-only', pinned: true, range: null, codec: 'f32' });
    expect(c.update(inputs(1000, 500))).toBeUndefined();
    c.setSettings({ ...settings, pin: 'split-zz' });
    expect(c.update(inputs(2000, 0.1))?.reason).toMatch(/pinned split split-zz is not in bundle/);
    expect(c.current()?.split).toBe('edge-only');
  });
});

describe('model controller: hysteresis', () => {
  it('does not act on bandwidth inside the band around the current range', () => {
    const c = createModelController(syntheticManifest(), settings);
    c.update(inputs(0, 5));
    // 13 Mbps is past the 12 Mbps boundary but within 20% of it: no switch, however long it lasts.
    for (let t = 100; t < 5000; t += 100) expect(c.update(inputs(t, 13))).toBeUndefined();
    expect(c.current()?.split).toBe('split-a');
  });

  it('switches only after the new choice held for holdMs', () => {
    const c = createModelController(syntheticManifest(), settings);
    c.update(inputs(0, 5));
    expect(c.update(inputs(1000, 20))).toBeUndefined();
    expect(c.update(inputs(1200, 20))).toBeUndefined();
    // A dip back inside the range resets the clock.
    expect(c.update(inputs(1250, 6))).toBeUndefined();
    expect(c.update(inputs(1300, 20))).toBeUndefined();
    expect(c.update(inputs(1599, 20))).toBeUndefined();
    const event = c.update(inputs(1600, 20));
    expect(event?.to.split).toBe('cloud-only');
    expect(event?.reason).toMatch(/^bandwidth 20\.00 Mbps left \[2\.00, 12\.0\) Mbps for \[12\.0, ∞\) Mbps/);
  });

  it('fed by the median estimator, a 20 → 0.5 Mbps step gives exactly one switch', () => {
    const c = createModelController(syntheticManifest(), settings);
    const e = createBandwidthEstimator({ window: 5 });
    let t = 0;
    const feed = (mbps: number, n: number) => {
      const events = [];
      for (let i = 0; i < n; i++, t += 50) {
        // Samples wobble ±30% around the link rate, as real transfers do.
        const wobble = 1 + 0.3 * Math.sin(i * 1.7);
        e.addTransfer({ bytes: 10_000, elapsedMs: 80 / (mbps * wobble), serverMs: 0, at: t });
        const event = c.update(inputs(t, e.estimate(t).mbps!));
        if (event) events.push(event);
      }
      return events;
    };
    expect(feed(20, 40).map((ev) => ev.to.split)).toEqual(['cloud-only']);
    expect(feed(0.5, 60).map((ev) => ev.to.split)).toEqual(['edge-only']);
  });
});

describe('model controller: objective and bundle changes apply at once', () => {
  it('battery objective energy switches immediately and picks the most lenient point above the floor', () => {
    const c = createModelController(syntheticManifest(), { ...settings, floorMarginPoints: 0.5 });
    c.update(inputs(0, 40));
    expect(c.current()).toMatchObject({ objective: 'latency', split: 'cloud-only', budgetPoints: 1 });
    const event = c.update(inputs(10, 40, 'energy'));
    // Floor 0.89 + 0.5 point margin = 0.895: the 3-point operating point (0.89) is too lenient, 2 points is allowed.
    expect(event?.to).toMatchObject({ objective: 'energy', split: 'split-a', codec: 'int8', budgetPoints: 2 });
    expect(event?.reason).toMatch(/^objective latency → energy \(test\): exit budget 1 → 2 points/);
    expect(c.update(inputs(20, 40, 'balanced'))?.to).toMatchObject({ objective: 'balanced', budgetPoints: 2 });
  });

  it('a new bundle version switches on the next update, even to the same split', () => {
    const c = createModelController(syntheticManifest('v000000000001'), settings);
    c.update(inputs(0, 5));
    c.setManifest(syntheticManifest('v000000000002'));
    const event = c.update(inputs(1, 5));
    expect(event?.reason).toMatch(/^bundle v000000000001 → v000000000002/);
    expect(c.current()?.version).toBe('v000000000002');
    expect(c.preview(syntheticManifest('v000000000003'), inputs(2, 50)).split).toBe('cloud-only');
    expect(c.current()?.version).toBe('v000000000002');
  });
});
