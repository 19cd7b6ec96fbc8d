// The publisher's scheduling: a KV write held back by JetStream must not hold back the live heartbeats, and KV
// receives the newest heartbeat once the write in flight ends. The connection and bucket are stand-ins that
// record calls; the real path runs in every agent integration test.
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { decodeMessage, type Heartbeat } from '@cleave/proto';
import { buildHeartbeat, type HeartbeatInputs } from '../src/telemetry/heartbeat-builder.js';
import { createHeartbeatPublisher } from '../src/telemetry/heartbeat-publisher.js';

const inputs: HeartbeatInputs = {
  agentId: 'edge-1',
  intervalMs: 1000,
  link: { mbps: 2, latestMbps: 2, baseRttMs: 10, rttMs: 12, samples: 3, lastSampleAt: 0, latestResolved: true },
  power: { level: undefined, charging: false } as unknown as HeartbeatInputs['power'],
  models: [],
  lastError: undefined,
};

function fakeConnection() {
  const published: { subject: string; body: Heartbeat }[] = [];
  let closed = false;
  const nc = {
    publish: (subject: string, data: Uint8Array) => published.push({ subject, body: decodeMessage(data) as Heartbeat }),
    isClosed: () => closed,
  } as unknown as NatsConnection;
  return { nc, published, close: () => (closed = true) };
}

/** A bucket whose puts wait until released, one by one. */
function heldBucket() {
  const written: Heartbeat[] = [];
  const held: (() => void)[] = [];
  return {
    written,
    held,
    put: (_key: string, data: Uint8Array) =>
      new Promise<number>((resolve) => {
        held.push(() => {
          written.push(decodeMessage(data) as Heartbeat);
          resolve(written.length);
        });
      }),
  };
}

describe('heartbeat publisher', () => {
  it('publishes every beat live while a KV write is held, then writes only the newest', async () => {
    const { nc, published } = fakeConnection();
    const kv = heldBucket();
    let beats = 0;
    let clock = 0;
    const slow: number[] = [];
    const publisher = createHeartbeatPublisher({
      prefix: 'cleave',
      agentId: 'edge-1',
      intervalMs: 1000,
      nats: () => nc,
      build: () => buildHeartbeat({ ...inputs, lastError: `beat ${++beats}` }),
      onError: (m) => expect.fail(m),
      onSlowWrite: (ms) => slow.push(ms),
      openKv: () => Promise.resolve(kv),
      now: () => clock,
    });

    const first = publisher.beat();
    const later = Array.from({ length: 5 }, () => publisher.beat());
    expect(published.map((p) => p.body.lastError)).toEqual([
      'beat 1',
      'beat 2',
      'beat 3',
      'beat 4',
      'beat 5',
      'beat 6',
    ]);
    expect(published.every((p) => p.subject === 'cleave.heartbeat.edge-1')).toBe(true);

    await new Promise((resolve) => setImmediate(resolve));
    expect(kv.held).toHaveLength(1);
    clock = 5000;
    kv.held.shift()!();
    // The first beat is done once its own write is, although the next write (beat 6) is still held: a shutdown's
    // last beat must not wait for a loop that the interval keeps feeding.
    await first;
    let laterDone = false;
    void Promise.all(later).then(() => (laterDone = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(laterDone).toBe(false);
    // Beats 2 to 5 were superseded while the first write was held: the next write carries beat 6.
    expect(kv.held).toHaveLength(1);
    kv.held.shift()!();
    await Promise.all(later);
    expect(kv.written.map((h) => h.lastError)).toEqual(['beat 1', 'beat 6']);
    expect(slow).toEqual([5000]);
  });

  it('reports a failed write, reopens the bucket for the next, and publishes nothing once closed', async () => {
    const { nc, published, close } = fakeConnection();
    const errors: string[] = [];
    let opened = 0;
    const publisher = createHeartbeatPublisher({
      prefix: 'cleave',
      agentId: 'edge-1',
      intervalMs: 1000,
      nats: () => nc,
      build: () => buildHeartbeat(inputs),
      onError: (m) => errors.push(m),
      openKv: () => {
        opened++;
        return Promise.resolve({ put: () => Promise.reject(new Error('TimeoutError')) });
      },
    });
    await publisher.beat();
    await publisher.beat();
    expect(errors).toEqual(['heartbeat not written to KV: TimeoutError', 'heartbeat not written to KV: TimeoutError']);
    expect(opened).toBe(2);
    close();
    await publisher.beat();
    expect(published).toHaveLength(2);
    await publisher.close();
  });
});
