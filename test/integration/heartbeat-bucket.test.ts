// The heartbeat bucket refuses rollup headers however it comes to exist: an agent may write only its own key, and a
// `Nats-Rollup: all` header on that key would otherwise purge every other agent's heartbeat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { openHeartbeatKv } from '@cleave/node-runtime';
import { bucketNames } from '@cleave/proto';
import { useTestNats } from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: nats().url });
});
afterAll(async () => {
  await nc?.close();
});

async function rollupAllowed(prefix: string): Promise<boolean | undefined> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(`KV_${bucketNames(prefix).heartbeats}`)).config.allow_rollup_hdrs;
}

describe('openHeartbeatKv', () => {
  it('creates the bucket with rollups off, and a rollup on an agent key is refused', async () => {
    const prefix = `${nats().prefix}a`;
    const kv = await openHeartbeatKv(nc, prefix);
    await kv.put('gw-a', new TextEncoder().encode('{"agent":"a"}'));
    await kv.put('gw-b', new TextEncoder().encode('{"agent":"b"}'));
    expect(await rollupAllowed(prefix)).toBe(false);

    const h = headers();
    h.set('Nats-Rollup', 'all');
    const attempt = jetstream(nc).publish(`$KV.${bucketNames(prefix).heartbeats}.gw-a`, 'wipe', { headers: h });
    await expect(attempt).rejects.toThrow(/rollup/i);
    expect(new TextDecoder().decode((await kv.get('gw-b'))?.value)).toBe('{"agent":"b"}');
  });

  it('turns rollups off on a bucket that plain KV code created with them on, keeping its entries', async () => {
    const prefix = `${nats().prefix}b`;
    const plain = await new Kvm(nc).create(bucketNames(prefix).heartbeats, { history: 1 });
    await plain.put('gw-a', new TextEncoder().encode('kept'));
    expect(await rollupAllowed(prefix)).toBe(true);
    const kv = await openHeartbeatKv(nc, prefix);
    expect(await rollupAllowed(prefix)).toBe(false);
    expect(new TextDecoder().decode((await kv.get('gw-a'))?.value)).toBe('kept');
  });
});
