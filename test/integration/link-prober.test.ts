// The agent's active link probes through a shaped link: after the link drops from 20 to 0.13 Mbps, a probe sized for
// the old link cannot finish within its timeout. That timeout must still pull the estimate down (as an upper
// bound), so the next, smaller probes measure the new link instead of timing out forever.
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
});
