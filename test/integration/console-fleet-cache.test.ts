// The console's fleet follows the heartbeat bucket through one KV watch: puts, updates and deletes show up without
// a re-read, a malformed value is skipped, a key whose body names another agent is flagged, and a watch that dies
// is restarted. Then the paged API and the live stream over the same real server.
import type { ReadableStream } from 'node:stream/web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openHeartbeatKv } from '@cleave/node-runtime';
import { createConsoleApp, createConsoleAuth, createConsoleData } from '@cleave/console';
import { encodeMessage, PROTOCOL_VERSION, type Heartbeat } from '@cleave/proto';
import { createFleetCache, type FleetCache } from '../../console/src/fleet/fleet-cache.js';
import { useTestNats } from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let kv: KV;
let cache: FleetCache;
const warnings: string[] = [];

function heartbeat(agentId: string, over: Partial<Heartbeat> = {}): Uint8Array {
  return encodeMessage({
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId,
    sentAt: Date.now(),
    intervalMs: 5000,
    models: [],
    ...over,
  });
}

const fleet = async () => (await cache.agents()).map((a) => [a.agentId, a.heartbeat.bandwidthMbps] as const);

beforeAll(async () => {
  nc = await connect({ servers: nats().url });
  kv = await openHeartbeatKv(nc, nats().prefix);
  // Written before the cache starts: the watch's replay must bring them in.
  await kv.put('gw-a', heartbeat('gw-a', { bandwidthMbps: 1 }));
  await kv.put('gw-b', heartbeat('gw-b', { bandwidthMbps: 2 }));
  cache = createFleetCache(() => openHeartbeatKv(nc, nats().prefix), {
    connectionClosed: () => nc.isClosed(),
    log: { warn: (_fields, message) => warnings.push(message) },
    restartDelayMs: 50,
    livenessCheckMs: 500,
  });
});
afterAll(async () => {
  cache?.close();
  await nc?.close();
});

describe('fleet cache on a real nats-server', () => {
  it('starts from the values already in the bucket', async () => {
    expect(await fleet()).toEqual([
      ['gw-a', 1],
      ['gw-b', 2],
    ]);
  });

  it('follows a new agent, an update and a delete', async () => {
    await kv.put('gw-c', heartbeat('gw-c', { bandwidthMbps: 3 }));
    await kv.put('gw-a', heartbeat('gw-a', { bandwidthMbps: 10 }));
    await kv.delete('gw-b');
    await expect.poll(fleet, { timeout: 5000 }).toEqual([
      ['gw-a', 10],
      ['gw-c', 3],
    ]);
  });

  it('skips a malformed value (the agent returns with its next valid heartbeat) and counts it', async () => {
    await kv.put('gw-c', new TextEncoder().encode('not a heartbeat'));
    await expect.poll(fleet, { timeout: 5000 }).toEqual([['gw-a', 10]]);
    expect(cache.stats().malformed).toBe(1);
    await kv.put('gw-c', heartbeat('gw-c', { bandwidthMbps: 4 }));
    await expect.poll(fleet, { timeout: 5000 }).toContainEqual(['gw-c', 4]);
  });

  it('flags a heartbeat whose body names another agent, under the key that wrote it', async () => {
    await kv.put('gw-rogue', heartbeat('gw-a', { bandwidthMbps: 99 }));
    await expect
      .poll(async () => (await cache.agents()).find((a) => a.agentId === 'gw-rogue'))
      .toMatchObject({
        spoofed: true,
        claimedAgentId: 'gw-a',
        heartbeat: { agentId: 'gw-rogue', bandwidthMbps: 99 },
      });
    const genuine = (await cache.agents()).find((a) => a.agentId === 'gw-a')!;
    expect(genuine).toMatchObject({ spoofed: false, heartbeat: { bandwidthMbps: 10 } });
    await kv.delete('gw-rogue');
  });

  it('restarts a watch whose consumer was deleted, and drops what was deleted meanwhile', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${nats().prefix}_heartbeats`;
    const consumers = await jsm.consumers.list(stream).next();
    expect(consumers.length).toBeGreaterThan(0);
    // Deleted while no watch runs: the restarted one replays the bucket as it is now.
    for (const c of consumers) await jsm.consumers.delete(stream, c.name);
    await kv.delete('gw-c');
    await kv.put('gw-d', heartbeat('gw-d', { bandwidthMbps: 5 }));
    await expect.poll(() => cache.stats().restarts, { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(fleet, { timeout: 10_000 }).toEqual([
      ['gw-a', 10],
      ['gw-d', 5],
    ]);
    expect(warnings.some((w) => /heartbeat watch (ended|failed); restarting it/.test(w))).toBe(true);
  });
});

describe('paged fleet API and live stream over the cache', () => {
  const TOKEN = 'fleet-cache-test-token-0123456789';
  const bearer = { authorization: `Bearer ${TOKEN}` };
  let app: Awaited<ReturnType<typeof createConsoleApp>>;
  let prefix: string;

  beforeAll(async () => {
    prefix = `${nats().prefix}p`;
    const paged = await openHeartbeatKv(nc, prefix);
    for (let i = 0; i < 12; i += 1) {
      const id = `gw-${String(i).padStart(2, '0')}`;
      await paged.put(id, heartbeat(id, { rttMs: 100 - i, ...(i === 3 ? { sentAt: 0 } : {}) }));
    }
    app = await createConsoleApp({
      data: createConsoleData(nc, { prefix }),
      auth: createConsoleAuth({ token: TOKEN }),
      eventIntervalMs: 100,
    });
  });

  it('answers one page, sorted on the server, with the whole fleet summarized', async () => {
    const res = await app.request('/api/fleet?offset=5&limit=5&sort=rttMs', { headers: bearer });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      total: number;
      offset: number;
      agents: { agentId: string }[];
      summary: { agents: number; stale: number };
    };
    expect(body.total).toBe(12);
    expect(body.offset).toBe(5);
    expect(body.agents.map((a) => a.agentId)).toEqual(['gw-06', 'gw-05', 'gw-04', 'gw-03', 'gw-02']);
    expect(body.summary).toMatchObject({ agents: 12, stale: 1 });
    const stale = (await (await app.request('/api/fleet?filter=stale', { headers: bearer })).json()) as {
      total: number;
    };
    expect(stale.total).toBe(1);
  });

  it('refuses a bad page with the field named', async () => {
    const res = await app.request('/api/fleet?limit=5000', { headers: bearer });
    expect(res.status).toBe(400);
    expect(Object.keys(((await res.json()) as { fieldErrors: object }).fieldErrors)).toEqual(['limit']);
    expect((await app.request('/api/events?sort=nope', { headers: bearer })).status).toBe(400);
  });

  it('streams the page once, then only the agents that changed', async () => {
    const res = await app.request('/api/events?limit=3', { headers: bearer });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) text += decoder.decode((await reader.read()).value);
    };
    await readUntil(/event: snapshot\ndata: (.*)\n/);
    const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!) as {
      total: number;
      agents: { agentId: string }[];
    };
    expect(snapshot.total).toBe(12);
    expect(snapshot.agents.map((a) => a.agentId)).toEqual(['gw-00', 'gw-01', 'gw-02']);
    await (await openHeartbeatKv(nc, prefix)).put('gw-01', heartbeat('gw-01', { rttMs: 1 }));
    await readUntil(/event: delta\ndata: (.*)\n/);
    const delta = JSON.parse(/event: delta\ndata: (.*)\n/.exec(text)![1]!) as {
      changed: { agentId: string; heartbeat: { rttMs: number } }[];
      removed: string[];
    };
    expect(delta.changed.map((a) => [a.agentId, a.heartbeat.rttMs])).toEqual([['gw-01', 1]]);
    expect(delta.removed).toEqual([]);
    await reader.cancel();
  });
});
