import { describe, expect, it } from 'vitest';
import { encodeMessage, PROTOCOL_VERSION, type Heartbeat, type HeartbeatModelStats } from '@cleave/proto';
import type { FleetAgent } from '../src/console-data.js';
import { fleetAgentAt, storedHeartbeat } from '../src/fleet/fleet-cache.js';
import { createFleetDeltaTracker } from '../src/fleet/fleet-delta.js';
import { FleetQuerySchema, pageFleet, summarizeFleet } from '../src/fleet/fleet-page.js';

const model = (over: Partial<HeartbeatModelStats> = {}): HeartbeatModelStats => ({
  model: 'fmnist',
  version: 'v1',
  split: 'split-1',
  codec: 'f16',
  exitRate: 0.5,
  p50Ms: 3,
  p95Ms: 9,
  offloads: 0,
  fallbacks: 0,
  requests: 10,
  ...over,
});

function heartbeat(agentId: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId,
    sentAt: 1_000,
    intervalMs: 5000,
    models: [model()],
    ...over,
  };
}

function agent(id: string, over: Partial<Heartbeat> = {}, now = 2_000): FleetAgent {
  return fleetAgentAt(id, storedHeartbeat(id, encodeMessage(heartbeat(id, over)))!, now);
}

const query = (q: Record<string, string> = {}) => FleetQuerySchema.parse(q);

describe('stored heartbeats', () => {
  it('keys a heartbeat by its writer and flags a body naming another agent', () => {
    const stored = storedHeartbeat('gw-rogue', encodeMessage(heartbeat('gw-a')))!;
    expect(stored).toMatchObject({ spoofed: true, claimedAgentId: 'gw-a', heartbeat: { agentId: 'gw-rogue' } });
    expect(storedHeartbeat('gw-a', encodeMessage(heartbeat('gw-a')))).toMatchObject({ spoofed: false });
    expect(storedHeartbeat('gw-a', encodeMessage(heartbeat('gw-a')))).not.toHaveProperty('claimedAgentId');
  });

  it('skips a value that is not a heartbeat', () => {
    expect(storedHeartbeat('gw-a', new TextEncoder().encode('{not msgpack'))).toBeUndefined();
    expect(storedHeartbeat('gw-a', new Uint8Array())).toBeUndefined();
  });

  it('computes age and stale at read time: stale only past three intervals', () => {
    const stored = storedHeartbeat('gw-a', encodeMessage(heartbeat('gw-a', { sentAt: 10_000, intervalMs: 1000 })))!;
    expect(fleetAgentAt('gw-a', stored, 13_000)).toMatchObject({ ageMs: 3000, stale: false });
    expect(fleetAgentAt('gw-a', stored, 13_001)).toMatchObject({ ageMs: 3001, stale: true });
    // A clock behind the agent's is not a negative age.
    expect(fleetAgentAt('gw-a', stored, 9_000).ageMs).toBe(0);
  });
});

describe('fleet query', () => {
  it('defaults to the first 100 agents by id', () => {
    expect(query()).toEqual({ offset: 0, limit: 100, sort: { key: 'agentId', descending: false }, filter: '' });
    expect(query({ sort: '-rttMs' }).sort).toEqual({ key: 'rttMs', descending: true });
  });

  it('refuses a page over 500, a negative offset and an unknown column, naming the field', () => {
    for (const [q, field] of [
      [{ limit: '501' }, 'limit'],
      [{ limit: '0' }, 'limit'],
      [{ offset: '-1' }, 'offset'],
      [{ offset: 'x' }, 'offset'],
      [{ sort: 'password' }, 'sort'],
    ] as const) {
      const result = FleetQuerySchema.safeParse(q);
      expect(result.success, JSON.stringify(q)).toBe(false);
      expect(result.error!.issues[0]!.path[0]).toBe(field);
    }
  });
});

describe('pageFleet', () => {
  const fleet = Array.from({ length: 250 }, (_, i) =>
    agent(`gw-${String(i).padStart(3, '0')}`, { rttMs: (i * 7) % 100, ...(i % 50 === 0 ? { rttMs: undefined } : {}) }),
  );

  it('slices the sorted fleet and summarizes all of it', () => {
    const page = pageFleet(fleet, query({ offset: '100', limit: '100' }));
    expect(page.total).toBe(250);
    expect(page.agents.map((a) => a.agentId).slice(0, 2)).toEqual(['gw-100', 'gw-101']);
    expect(page.agents).toHaveLength(100);
    expect(page.summary.agents).toBe(250);
    expect(pageFleet(fleet, query({ offset: '200' })).agents).toHaveLength(50);
    expect(pageFleet(fleet, query({ offset: '300' })).agents).toHaveLength(0);
  });

  it('sorts by a column both ways, missing values last, ties by id', () => {
    const asc = pageFleet(fleet, query({ sort: 'rttMs', limit: '500' })).agents;
    const desc = pageFleet(fleet, query({ sort: '-rttMs', limit: '500' })).agents;
    const rtts = (list: FleetAgent[]) => list.map((a) => a.heartbeat.rttMs);
    expect(rtts(asc).slice(0, 3)).toEqual([1, 1, 1]);
    expect(asc.slice(0, 2).map((a) => a.agentId)).toEqual(['gw-043', 'gw-143']);
    expect(rtts(asc).at(-1)).toBeUndefined();
    expect(rtts(desc)[0]).toBe(99);
    expect(rtts(desc).at(-1)).toBeUndefined();
  });

  it('filters on ids, models and the word stale, counting the matches', () => {
    const mixed = [
      agent('gw-a'),
      agent('gw-b', { models: [model({ version: 'v2' })] }),
      agent('gw-c', { sentAt: 0, intervalMs: 100 }),
    ];
    expect(pageFleet(mixed, query({ filter: 'fmnist@v2' })).agents.map((a) => a.agentId)).toEqual(['gw-b']);
    expect(pageFleet(mixed, query({ filter: 'STALE' }))).toMatchObject({ total: 1, summary: { agents: 3 } });
    expect(pageFleet(mixed, query({ filter: 'gw-' })).total).toBe(3);
  });
});

describe('summarizeFleet', () => {
  it('counts stale, spoofed, offloading, errors, low battery and agents per model@version', () => {
    const spoofed = fleetAgentAt('gw-x', storedHeartbeat('gw-x', encodeMessage(heartbeat('gw-a')))!, 2_000);
    const summary = summarizeFleet([
      agent('gw-a', { models: [model({ offloads: 3 })] }),
      agent('gw-b', { lastError: 'tail timed out', battery: { level: 0.1, charging: false } }),
      agent('gw-c', { sentAt: 0, intervalMs: 100, battery: { level: 0.1, charging: true }, models: [] }),
      spoofed,
    ]);
    expect(summary).toEqual({
      agents: 4,
      stale: 1,
      spoofed: 1,
      offloading: 1,
      withErrors: 1,
      lowBattery: 1,
      models: { 'fmnist@v1': 3 },
    });
  });
});

describe('fleet delta tracker', () => {
  const page = (agents: FleetAgent[], total = agents.length) => pageFleet(agents, query({ limit: String(total) }));

  it('sends the page once, then nothing until something changes', () => {
    const tracker = createFleetDeltaTracker();
    const agents = [agent('gw-a'), agent('gw-b')];
    expect(tracker.next(page(agents))).toMatchObject({ kind: 'snapshot', page: { total: 2 } });
    // Ageing alone changes nothing the table shows.
    expect(tracker.next(page([agent('gw-a', {}, 3_000), agent('gw-b', {}, 3_000)]))).toBeUndefined();
  });

  it('sends the agents with a new heartbeat, the ones that turned stale, and the ones that left', () => {
    const tracker = createFleetDeltaTracker();
    tracker.next(page([agent('gw-a'), agent('gw-b'), agent('gw-c')]));
    const update = tracker.next(page([agent('gw-a', { sentAt: 1_500 }), agent('gw-b', {}, 1_000 + 15_001)], 2));
    expect(update).toMatchObject({ kind: 'delta', removed: ['gw-c'], order: ['gw-a', 'gw-b'], total: 2 });
    if (update?.kind !== 'delta') throw new Error('expected a delta');
    expect(update.changed.map((a) => [a.agentId, a.stale])).toEqual([
      ['gw-a', false],
      ['gw-b', true],
    ]);
    expect(update.summary).toMatchObject({ agents: 2, stale: 1 });
  });

  it('sends the order alone when a sort moves agents without new heartbeats', () => {
    const tracker = createFleetDeltaTracker();
    const [a, b] = [agent('gw-a'), agent('gw-b')];
    tracker.next({ ...page([a, b]) });
    const update = tracker.next({ ...page([a, b]), agents: [b, a] });
    expect(update).toEqual({ kind: 'delta', changed: [], removed: [], order: ['gw-b', 'gw-a'], total: 2 });
  });
});

describe('fleet page rows', () => {
  it('leave out the switch history the table never shows, and keep everything else', () => {
    const switches = [{ at: '2026-12-02T00:00:00.000Z', from: null, to: 'split-1/f16/latency/1', reason: 'initial' }];
    const [row] = pageFleet([agent('gw-a', { models: [model({ switches, reason: 'initial' })] })], query()).agents;
    expect(row!.heartbeat.models[0]).not.toHaveProperty('switches');
    expect(row!.heartbeat.models[0]).toMatchObject({ split: 'split-1', reason: 'initial' });
  });
});
