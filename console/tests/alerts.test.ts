// Alert rules over a fleet snapshot, their raised/cleared times across snapshots, and the /metrics text they
// become (checked by `promtool check metrics` when Debian's prometheus package is installed).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Heartbeat, type HeartbeatModelStats, PROTOCOL_VERSION } from '@cleave/proto';
import type { CloudReplicaView, FleetAgent } from '../src/console-data.js';
import { renderConsoleMetrics } from '../src/alerts/alert-metrics.js';
import {
  AlertRulesSchema,
  type AlertSnapshot,
  countersSince,
  evaluateAlerts,
  overloadedCounts,
} from '../src/alerts/alert-rules.js';
import { createAlertTracker } from '../src/alerts/alert-tracker.js';

const PROMTOOL = '/usr/bin/promtool';
const rules = AlertRulesSchema.parse({});

function stats(overrides: Partial<HeartbeatModelStats> = {}): HeartbeatModelStats {
  return {
    model: 'm',
    version: 'v2',
    split: 'split-1',
    codec: 'f32',
    exitRate: 0.5,
    p50Ms: 1,
    p95Ms: 2,
    offloads: 10,
    fallbacks: 0,
    requests: 20,
    expectedAccuracy: 0.9,
    ...overrides,
  };
}

function agent(id: string, hb: Partial<Heartbeat> = {}, ageMs = 100): FleetAgent {
  const heartbeat: Heartbeat = {
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId: id,
    sentAt: 0,
    intervalMs: 500,
    models: [stats()],
    ...hb,
  };
  return { agentId: id, heartbeat, spoofed: false, ageMs, stale: ageMs > 3 * 500 };
}

const replica = (id: string, overloaded: number): CloudReplicaView => ({
  id,
  name: 'cleave-tail',
  replica: id,
  version: '0.1.0',
  started: '',
  endpoints: [
    {
      name: 'tail',
      subject: 'cleave.tail.>',
      requests: 5,
      errors: 0,
      averageProcessingMs: 1,
      data: { served: 5, failed: { overloaded } },
    },
  ],
});

function snapshot(overrides: Partial<AlertSnapshot> = {}): AlertSnapshot {
  return {
    now: 1_000_000,
    agents: [agent('gw-a')],
    replicas: [replica('r1', 0)],
    models: [{ model: 'm', current: 'v2', versions: ['v1', 'v2'] }],
    policies: { fleet: undefined, agents: {} },
    bundleFloors: new Map([['m@v2', 0.85]]),
    overloadedSince: new Map(),
    ...overrides,
  };
}

const kinds = (s: AlertSnapshot) => evaluateAlerts(s, rules).map((c) => `${c.alert}:${c.agent ?? c.replica ?? ''}`);

describe('evaluateAlerts', () => {
  it('raises nothing for a healthy fleet', () => {
    expect(evaluateAlerts(snapshot(), rules)).toEqual([]);
  });

  it('flags a stale agent with how many intervals it missed, and nothing else about it', () => {
    const stale = agent('gw-a', { models: [stats({ version: 'v1', fallbacks: 9 })] }, 4200);
    const [condition, ...rest] = evaluateAlerts(snapshot({ agents: [stale] }), rules);
    expect(rest).toEqual([]);
    expect(condition).toMatchObject({ alert: 'stale_agent', agent: 'gw-a', severity: 'critical' });
    expect(condition!.reason).toMatch(/^no heartbeat for 8 intervals of 500 ms \(last 4\.2 s ago\)/);
  });

  it('flags a fallback spike only past both the count and the share of offloads', () => {
    const many = agent('gw-a', { models: [stats({ offloads: 10, fallbacks: 4 })] });
    const few = agent('gw-b', { models: [stats({ offloads: 10, fallbacks: 2 })] });
    const small = agent('gw-c', { models: [stats({ offloads: 100, fallbacks: 10 })] });
    expect(kinds(snapshot({ agents: [many, few, small] }))).toEqual(['fallback_spike:gw-a']);
    expect(evaluateAlerts(snapshot({ agents: [many] }), rules)[0]!.reason).toBe(
      '4 of 10 offloads fell back to the edge in the last 500 ms interval',
    );
  });

  it('flags an open breaker', () => {
    expect(kinds(snapshot({ agents: [agent('gw-a', { breaker: 'open' })] }))).toEqual(['breaker_open:gw-a']);
    expect(kinds(snapshot({ agents: [agent('gw-a', { breaker: 'half-open' })] }))).toEqual([]);
  });

  it('flags version drift with the drift window as its hold time', () => {
    const [drift] = evaluateAlerts(
      snapshot({ agents: [agent('gw-a', { models: [stats({ version: 'v1' })] })] }),
      rules,
    );
    expect(drift).toMatchObject({ alert: 'version_drift', model: 'm', forMs: 10 * 60_000 });
    expect(drift!.reason).toBe('serves m@v1 while v2 is current');
  });

  it('flags expected accuracy near the stricter of the bundle floor and the policy floor', () => {
    const near = agent('gw-a', { models: [stats({ expectedAccuracy: 0.853 })] });
    expect(kinds(snapshot({ agents: [near] }))).toEqual(['accuracy_near_floor:gw-a']);
    const clear = agent('gw-a', { models: [stats({ expectedAccuracy: 0.9 })] });
    expect(kinds(snapshot({ agents: [clear] }))).toEqual([]);
    // A fleet policy floor of 0.898 is stricter than the bundle's 0.85; an agent policy overrides the fleet's.
    const fleetFloor = { fleet: { floorAccuracy: 0.898 }, agents: {} };
    expect(kinds(snapshot({ agents: [clear], policies: fleetFloor }))).toEqual(['accuracy_near_floor:gw-a']);
    const agentFloor = { fleet: { floorAccuracy: 0.898 }, agents: { 'gw-a': { floorAccuracy: 0.8 } } };
    expect(kinds(snapshot({ agents: [clear], policies: agentFloor }))).toEqual([]);
  });

  it('flags a replica that answered overloaded since the previous snapshot', () => {
    const before = overloadedCounts([replica('r1', 3), replica('r2', 7)]);
    const after = overloadedCounts([replica('r1', 3), replica('r2', 12), replica('r3', 1)]);
    const since = countersSince(before, after);
    expect([...since]).toEqual([
      ['r1', 0],
      ['r2', 5],
      ['r3', 1],
    ]);
    const conditions = evaluateAlerts(snapshot({ overloadedSince: since }), rules);
    expect(conditions.map((c) => `${c.alert}:${c.replica}`)).toEqual(['cloud_refusing:r2', 'cloud_refusing:r3']);
    expect(conditions[0]!.reason).toBe('replica answered 5 requests with overloaded since the last check');
  });

  it('flags no replica while a model is current, and not before anything is published', () => {
    expect(kinds(snapshot({ replicas: [] }))).toEqual(['no_replica:']);
    expect(evaluateAlerts(snapshot({ replicas: [] }), rules)[0]!.reason).toContain(
      '1 agent(s) run a split that offloads',
    );
    expect(kinds(snapshot({ replicas: [], models: [] }))).toEqual([]);
  });

  it('refuses bad thresholds with the field named', () => {
    const result = AlertRulesSchema.safeParse({ fallbackShare: 2, driftMinute: 1 });
    expect(result.success).toBe(false);
    const text = z.prettifyError(result.error!);
    expect(text).toContain('fallbackShare');
    expect(text).toContain('driftMinute');
  });
});

describe('createAlertTracker', () => {
  it('raises at once, clears when the condition goes, and keeps the cleared alert for its retention', () => {
    const tracker = createAlertTracker({ clearedRetentionMs: 60_000 });
    const stale = evaluateAlerts(snapshot({ agents: [agent('gw-a', {}, 4000)] }), rules);
    expect(tracker.update(stale, 1000).active.map((a) => [a.alert, a.raisedAt])).toEqual([['stale_agent', 1000]]);
    // Still stale: the same alert, raised at the same time, with the fresh reason.
    const later = evaluateAlerts(snapshot({ agents: [agent('gw-a', {}, 6000)] }), rules);
    const held = tracker.update(later, 3000);
    expect(held.active).toHaveLength(1);
    expect(held.active[0]).toMatchObject({ raisedAt: 1000, since: 1000 });
    expect(held.active[0]!.reason).toContain('12 intervals');
    const cleared = tracker.update([], 5000);
    expect(cleared.active).toEqual([]);
    expect(cleared.cleared[0]).toMatchObject({ alert: 'stale_agent', agent: 'gw-a', raisedAt: 1000, clearedAt: 5000 });
    expect(tracker.update([], 66_000).cleared).toEqual([]);
  });

  it('holds a drift pending until it has lasted the window, and forgets a drift that ends sooner', () => {
    const tracker = createAlertTracker();
    const drift = evaluateAlerts(snapshot({ agents: [agent('gw-a', { models: [stats({ version: 'v1' })] })] }), rules);
    const minute = 60_000;
    expect(tracker.update(drift, 0).active).toEqual([]);
    expect(tracker.update(drift, 9 * minute).active).toEqual([]);
    expect(tracker.update(drift, 10 * minute).active.map((a) => [a.alert, a.since, a.raisedAt])).toEqual([
      ['version_drift', 0, 10 * minute],
    ]);
    const short = createAlertTracker();
    short.update(drift, 0);
    expect(short.update([], 5 * minute)).toEqual({ active: [], cleared: [] });
  });
});

describe('renderConsoleMetrics', () => {
  const tracker = createAlertTracker();
  const agents = [agent('gw-"quoted"', {}, 4000), agent('gw-b', { models: [stats({ version: 'v1' })] })];
  tracker.update(evaluateAlerts(snapshot({ agents, replicas: [] }), { ...rules, driftMinutes: 0 }), 1000);
  const state = tracker.update(
    evaluateAlerts(snapshot({ agents: agents.slice(1), replicas: [] }), { ...rules, driftMinutes: 0 }),
    2000,
  );
  const text = renderConsoleMetrics(state, {
    agents: 2,
    staleAgents: 1,
    replicas: 0,
    evaluatedAt: 2000,
    evaluationFailures: 0,
  });

  it('exports raised alerts as 1 and cleared ones as 0, with escaped labels', () => {
    console.log(
      text
        .split('\n')
        .filter((l) => l.startsWith('cleave_console_alerts{'))
        .join('\n'),
    );
    expect(text).toContain(
      'cleave_console_alerts{alert="version_drift",agent="gw-b",model="m",replica="",severity="warning"} 1',
    );
    expect(text).toContain(
      'cleave_console_alerts{alert="no_replica",agent="",model="",replica="",severity="critical"} 1',
    );
    expect(text).toContain(
      'cleave_console_alerts{alert="stale_agent",agent="gw-\\"quoted\\"",model="",replica="",severity="critical"} 0',
    );
    expect(text).toContain('cleave_console_agents{stale="true"} 1');
  });

  it.skipIf(!existsSync(PROMTOOL))('passes promtool check metrics', () => {
    const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    console.log(`promtool check metrics: exit ${result.status} ${result.stdout}${result.stderr}`.trim());
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
