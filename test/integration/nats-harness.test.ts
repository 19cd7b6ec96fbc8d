import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { useTestNats } from '../harness/mod.js';

const nats = useTestNats();

describe('test harness', () => {
  it('gives this file a reachable server and a unique subject prefix', async () => {
    const { url, prefix } = nats();
    expect(prefix).toMatch(/^t[0-9a-f]{12}$/);
    const nc = await connect({ servers: url });
    try {
      nc.subscribe(`${prefix}.echo`, { callback: (_err, msg) => void msg.respond(msg.data) });
      const reply = await nc.request(`${prefix}.echo`, 'ping', { timeout: 2000 });
      expect(reply.string()).toBe('ping');
    } finally {
      await nc.close();
    }
  });
});
