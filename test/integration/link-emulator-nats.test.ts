import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { startLinkEmulator, useTestNats } from '../harness/mod.js';

const nats = useTestNats();

describe('link emulator (userspace TCP proxy in front of NATS)', () => {
  it('forwards NATS traffic, adds delay, limits rate, and can be cut and restored', async () => {
    const { url, prefix } = nats();
    const target = new URL(url);
    await using link = await startLinkEmulator({ host: target.hostname, port: Number(target.port) });
    const responder = await connect({ servers: url });
    responder.subscribe(`${prefix}.echo`, { callback: (_e, m) => void m.respond(m.data) });
    await responder.flush();
    const client = await connect({ servers: link.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    try {
      const timeRequest = async (bytes: number): Promise<number> => {
        const t0 = performance.now();
        const reply = await client.request(`${prefix}.echo`, new Uint8Array(bytes), { timeout: 10_000 });
        expect(reply.data.length).toBe(bytes);
        return performance.now() - t0;
      };
      await timeRequest(10);
      const fast = await timeRequest(10);

      link.shape({ delayMs: 40 });
      const delayed = await timeRequest(10);
      // 40 ms each way on the client's side of the link: the round trip takes at least 80 ms (the absolute time,
      // not the difference to \`fast\`, which a loaded machine can stretch as much as the delay itself).
      expect(delayed).toBeGreaterThanOrEqual(78);
      expect(delayed).toBeGreaterThan(fast);

      link.shape({ delayMs: 0, rateMbps: 2 });
      // 50 kB up and 50 kB back at 2 Mbit/s is at least 400 ms of serialisation.
      expect(await timeRequest(50_000)).toBeGreaterThanOrEqual(380);
      expect(link.stats.upBytes).toBeGreaterThan(50_000);

      link.shape({ rateMbps: Infinity });
      link.cut();
      await expect(client.request(`${prefix}.echo`, new Uint8Array(1), { timeout: 500 })).rejects.toThrow();
      link.restore();
      // The client reconnects through the restored link on its own.
      let recovered = false;
      for (let i = 0; i < 50 && !recovered; i++) {
        recovered = await client
          .request(`${prefix}.echo`, new Uint8Array(1), { timeout: 300 })
          .then(() => true)
          .catch(() => false);
      }
      expect(recovered).toBe(true);
    } finally {
      await client.close();
      await responder.close();
    }
  });
});
