// The agent's active link probes through a shaped link: after the link drops from 20 to 0.13 Mbps, a probe sized for
// the old link cannot finish within its timeout. That timeout must still pull the estimate down (as an upper
// bound), so the next, smaller probes measure the new link instead of timing out forever. And on a link where every
// sample looks surprising (noise), confirmations stay within their budget instead of chaining into a probe storm.
// An idle agent's probes back off, and the next request brings them back at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createBandwidthEstimator, createLinkProber } from '@cleave/edge-agent';
import { type LinkEmulator, startLinkEmulator, useTestNats, waitFor } from '../harness/mod.js';

const nats = useTestNats();
let link: LinkEmulator;
let nc: NatsConnection;

beforeAll(async () => {
  const target = new URL(nats().url);
  link = await startLinkEmulator({ host: target.hostname, port: Number(target.port) }, { rateMbps: 20, delayMs: 5 });
  nc = await connect({ servers: link.url });
});
afterAll(async () => {
  await nc?.close();
  await link?.close();
});

describe('link prober', () => {
  it('follows a drop from 20 to 0.13 Mbps although its first probe after the drop times out', async () => {
    const estimator = createBandwidthEstimator({ window: 3, maxAgeMs: 60_000 });
    const samples: number[] = [];
    const prober = createLinkProber({
      subject: `${nats().prefix}.probe.gw`,
      estimator,
      now: () => performance.now(),
      nats: () => nc,
      staleMs: 100,
      targetMs: 100,
      minBytes: 512,
      maxBytes: 65_536,
      timeoutMs: 1000,
      initialMbps: 20,
      onSample: (mbps) => samples.push(mbps),
    });
    prober.start();
    try {
      await waitFor(() => (estimator.estimate(performance.now()).mbps ?? 0) > 5, 'the 20 Mbps estimate', 10_000);
      link.shape({ rateMbps: 0.13 });
      const before = samples.length;
      await waitFor(
        () => samples.length >= before + 4 && (estimator.estimate(performance.now()).mbps ?? Infinity) < 0.5,
        'the estimate to follow the drop',
        30_000,
        50,
      );
      // The newest samples are real measurements of the slow link, not only timeout bounds.
      expect(samples.slice(-2).every((mbps) => mbps < 0.5 && mbps > 0.02)).toBe(true);
    } finally {
      await prober.close();
    }
  });

  it('keeps confirmations of surprising samples within their budget when every sample surprises', async () => {
    const estimator = createBandwidthEstimator({ window: 5, maxAgeMs: 3000 });
    let prober: ReturnType<typeof createLinkProber> | undefined = undefined;
    prober = createLinkProber({
      subject: `${nats().prefix}.probe.noisy`,
      estimator,
      now: () => performance.now(),
      nats: () => nc,
      staleMs: 500,
      targetMs: 2,
      minBytes: 512,
      maxBytes: 4096,
      timeoutMs: 1000,
      initialMbps: 20,
      confirmations: { probes: 3, perMs: 3000 },
      // The agent asks for a confirmation whenever a sample is far from the median: here, after every one.
      onSample: () => prober?.probeSoon(),
    });
    prober.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      // 2 s: the first probe, the stale probes every 500 ms (4), and 3 confirmations. Unbudgeted, each probe
      // confirmed the one before it back to back: one pair of round trips every ~12 ms on this 5 ms link.
      expect(prober.probes).toBeGreaterThanOrEqual(4);
      expect(prober.probes).toBeLessThanOrEqual(1 + 4 + 3);
    } finally {
      await prober.close();
    }
  });

  it('backs off while no request comes, and probes again at once when one does', async () => {
    link.shape({ rateMbps: 20 });
    const estimator = createBandwidthEstimator({ window: 5, maxAgeMs: 3000 });
    const prober = createLinkProber({
      subject: `${nats().prefix}.probe.idle`,
      estimator,
      now: () => performance.now(),
      nats: () => nc,
      staleMs: 100,
      targetMs: 2,
      minBytes: 512,
      maxBytes: 4096,
      timeoutMs: 1000,
      initialMbps: 20,
      idle: { afterMs: 300, maxStaleMs: 800 },
      onSample: () => undefined,
    });
    prober.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      // Active for 300 ms (about 4 probes at 100 ms), then 200, 400 and 800 ms apart: about 8 in 3 s where the
      // active pace sends about 30.
      const idle = prober.probes;
      expect(idle).toBeGreaterThanOrEqual(5);
      expect(idle).toBeLessThanOrEqual(11);
      // Requests every 50 ms for 400 ms: back at the active pace at once, a probe every ~100 ms (idle, the next
      // would be up to 800 ms away).
      for (let i = 0; i < 8; i++) {
        prober.active();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(prober.probes - idle).toBeGreaterThanOrEqual(3);
    } finally {
      await prober.close();
    }
  });
});
