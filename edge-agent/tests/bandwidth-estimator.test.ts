import { describe, expect, it } from 'vitest';
import { createBandwidthEstimator } from '../src/adapt/bandwidth-estimator.js';

// A transfer of `bytes` at exactly `mbps`, plus `extraMs` of fixed latency and server time.
function transfer(bytes: number, mbps: number, at: number, serverMs = 0, extraMs = 0) {
  return { bytes, elapsedMs: (bytes * 8) / (mbps * 1000) + serverMs + extraMs, serverMs, at };
}

describe('bandwidth estimator', () => {
  it('measures bytes over (elapsed − server time − base RTT)', () => {
    const e = createBandwidthEstimator();
    e.addRtt(4, 0);
    e.addRtt(6, 1);
    // 10 kB at 8 Mbit/s is 10 ms; the exchange also carried 3 ms of server time and the 4 ms base RTT.
    const sample = e.addTransfer(transfer(10_000, 8, 2, 3, 4));
    expect(sample).toBeCloseTo(8, 6);
    expect(e.estimate(2)).toMatchObject({ mbps: sample, baseRttMs: 4, samples: 1 });
  });

  it("subtracts a probe pair's own empty round trip, so local delays common to both do not count as transfer", () => {
    const e = createBandwidthEstimator();
    e.addRtt(4, 0);
    // A CPU-starved device answered both probes 15 ms late: 10 kB at 8 Mbit/s (10 ms) took 4 + 15 + 10 ms.
    const paired = e.addTransfer({ bytes: 10_000, elapsedMs: 29, serverMs: 0, at: 1, pairedRttMs: 19 });
    expect(paired).toBeCloseTo(8, 6);
    // Against the base RTT alone the same exchange reads as a link 2.5× slower.
    const unpaired = e.addTransfer({ bytes: 10_000, elapsedMs: 29, serverMs: 0, at: 2 });
    expect(unpaired).toBeCloseTo(80 / 25, 6);
    // An empty round trip far above the base waited behind bytes on the link: that wait is the slow link itself.
    const queued = e.addTransfer({ bytes: 10_000, elapsedMs: 4010, serverMs: 0, at: 3, pairedRttMs: 4000 });
    expect(queued).toBeCloseTo(80 / 4006, 6);
  });

  it('does not count the time a CPU quota held the agent back as transfer, and never more than the exchange took', () => {
    const e = createBandwidthEstimator();
    e.addRtt(4, 0);
    // 10 kB at 8 Mbit/s (10 ms) + 4 ms RTT + 3 ms server, read 12 ms late by a throttled agent.
    const held = { ...transfer(10_000, 8, 1, 3, 4 + 12), throttledMs: 12 };
    expect(e.addTransfer(held)).toBeCloseTo(8, 6);
    expect(e.addTransfer({ ...held, throttledMs: 0 })).toBeCloseTo((10_000 * 8) / (22 * 1000), 6);
    // A counter that ran ahead (threads throttled on two CPUs at once) is cut at the exchange's own time.
    expect(e.addTransfer({ ...held, throttledMs: 1000 })).toBe((10_000 * 8) / (0.25 * 1000));
  });

  it('ignores isolated outliers: one stalled transfer does not move the median', () => {
    const e = createBandwidthEstimator({ window: 5 });
    for (let i = 0; i < 5; i++) e.addTransfer(transfer(20_000, 20, i));
    e.addTransfer(transfer(20_000, 0.1, 5));
    expect(e.estimate(5).mbps).toBeCloseTo(20, 6);
    expect(e.estimate(5).latestMbps).toBeCloseTo(0.1, 6);
  });

  it('after a step, turns from the old level to the new one in one move, with no value in between', () => {
    const e = createBandwidthEstimator({ window: 5 });
    for (let i = 0; i < 5; i++) e.addTransfer(transfer(20_000, 20, i));
    const seen: number[] = [];
    for (let i = 5; i < 10; i++) {
      e.addTransfer(transfer(20_000, 0.5, i));
      seen.push(e.estimate(i).mbps!);
    }
    // Majority of the window (3 of 5) decides: 20, 20, then 0.5 from the third new sample on.
    expect(seen.map((x) => Math.round(x * 10) / 10)).toEqual([20, 20, 0.5, 0.5, 0.5]);
  });

  it('drops samples older than maxAgeMs but keeps the last median when nothing new arrived', () => {
    const e = createBandwidthEstimator({ maxAgeMs: 1000 });
    e.addTransfer(transfer(10_000, 5, 0));
    expect(e.estimate(5000)).toMatchObject({ samples: 0, lastSampleAt: 0 });
    expect(e.estimate(5000).mbps).toBeCloseTo(5, 6);
  });

  it('keeps the last base RTT once every RTT sample aged out, instead of counting the round trip as transfer', () => {
    const e = createBandwidthEstimator({ rttWindowMs: 1000 });
    e.addRtt(20, 0);
    // Ten seconds of offloads and no probe: 10 kB at 8 Mbit/s (10 ms) over a 20 ms round trip still reads 8 Mbit/s.
    const sample = e.addTransfer(transfer(10_000, 8, 10_000, 0, 20));
    expect(sample).toBeCloseTo(8, 6);
    expect(e.estimate(10_000).baseRttMs).toBe(20);
    // A newer probe replaces it.
    e.addRtt(30, 10_001);
    expect(e.estimate(10_001).baseRttMs).toBe(30);
  });

  it('marks a sample unresolved when the throttled time taken off it is at least the transfer time it leaves', () => {
    const e = createBandwidthEstimator();
    e.addRtt(20, 0);
    // 40 ms of a 52 ms exchange throttled: the 20 ms RTT and at most 12 ms of transfer are left, or none at all.
    e.addTransfer({ bytes: 10_000, elapsedMs: 52, serverMs: 0, throttledMs: 40, at: 1 });
    expect(e.estimate(1).latestResolved).toBe(false);
    e.addTransfer({ bytes: 10_000, elapsedMs: 52, serverMs: 0, throttledMs: 5, at: 2 });
    expect(e.estimate(2).latestResolved).toBe(true);
  });

  it('clamps tiny transfer times instead of reporting infinite bandwidth', () => {
    const e = createBandwidthEstimator({ minTransferMs: 0.25, maxMbps: 10_000 });
    const sample = e.addTransfer({ bytes: 1000, elapsedMs: 0.1, serverMs: 0.2, at: 0 });
    expect(sample).toBeCloseTo((1000 * 8) / 250, 6);
    // Without a throttle correction even a clamped sample is a measurement (a lower bound).
    expect(e.estimate(0).latestResolved).toBe(true);
    expect(e.addTransfer({ bytes: 0, elapsedMs: 1, serverMs: 0, at: 1 })).toBeUndefined();
    expect(e.addTransfer({ bytes: 10, elapsedMs: Number.NaN, serverMs: 0, at: 1 })).toBeUndefined();
  });

  it('with an even count, reports a measured level (the lower middle), never one in between', () => {
    const e = createBandwidthEstimator({ window: 4 });
    for (let i = 0; i < 2; i++) e.addTransfer(transfer(20_000, 20, i));
    for (let i = 2; i < 4; i++) e.addTransfer(transfer(20_000, 0.5, i));
    expect(e.estimate(3).mbps).toBeCloseTo(0.5, 6);
  });

  it('bad call: a window that is not a positive integer', () => {
    expect(() => createBandwidthEstimator({ window: 0 })).toThrow(RangeError);
  });
});
