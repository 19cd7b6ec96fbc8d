// The agent's active link probes through a shaped link: after the link drops from 20 to 0.13 Mbps, a probe sized for
// the old link cannot finish within its timeout. That timeout must still pull the estimate down (as an upper
// bound), so the next, smaller probes measure the new link instead of timing out forever. And on a link where every
// sample looks surprising (noise), confirmations stay within their budget instead of chaining into a probe storm.
// Probes run at the active pace only for requests that their own transfers do not measure; otherwise they back off.
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

  it('probes at the active pace only for requests their own transfers do not measure, and backs off otherwise', async () => {
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
    const requests = async (measured: boolean) => {
      for (let i = 0; i < 20; i++) {
        prober.active();
        // An offload's reply is a transfer sample, as the agent's learnLink records it.
        if (measured) estimator.addTransfer({ bytes: 20_000, elapsedMs: 20, serverMs: 1, at: performance.now() });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    prober.start();
    try {
      // No request for 3 s: probes 300, 600 and 800 ms apart, where the active pace sends about 30.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const idle = prober.probes;
      expect(idle).toBeGreaterThanOrEqual(3);
      expect(idle).toBeLessThanOrEqual(7);
      // 1 s of requests that each measure the link: at most the one probe the first may ask for after the quiet.
      await requests(true);
      const measured = prober.probes - idle;
      expect(measured).toBeLessThanOrEqual(1);
      // 1 s of requests that do not (an edge-only plan): a probe every ~100 ms once one has waited that long.
      await requests(false);
      expect(prober.probes - idle - measured).toBeGreaterThanOrEqual(5);
    } finally {
      await prober.close();
    }
  });
});
