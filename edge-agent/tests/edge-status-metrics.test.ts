// The agent's status as metric families: base units, one series per breaker state, and nothing for what the agent
// does not know (no battery, no link estimate yet, no bundle).
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../src/agent-types.js';
import type { Decision } from '../src/adapt/model-controller.js';
import { edgeStatusFamilies } from '../src/telemetry/edge-status-metrics.js';

const decision: Decision = {
  model: 'fmnist',
  version: 'v1',
  split: 'after-block2',
  kind: 'split',
  codec: 'int8',
  tailOn: 'cloud',
  objective: 'latency',
  budgetPoints: 1,
  thresholds: { exit1: 0.9 },
  expectedExitRate: 0.7,
  expectedAccuracy: 0.9,
  range: null,
  pinned: false,
  mbps: 20,
  since: 0,
};

function status(overrides: Partial<AgentStatus> = {}): AgentStatus {
  const totals = {
    requests: 0,
    exits: 0,
    offloads: 0,
    cloud: 0,
    fallbacks: 0,
    errors: 0,
    p50Ms: 0,
    p95Ms: 0,
    exitRate: 0,
  };
  return {
    agentId: 'gw-1',
    health: { live: true, ready: true, reasons: [] },
    connected: true,
    breaker: 'open',
    link: { mbps: 8, latestMbps: 8, rttMs: 12.5, baseRttMs: 10, samples: 3, probes: 4 },
    power: { onMains: false, level: 0.42, charging: false, batteries: 1 },
    batteryObjective: 'energy',
    lastError: null,
    models: [
      { model: 'fmnist', version: 'v1', decision, settings: null, totals, switches: [], switchCount: 0 },
      { model: 'idle', version: null, decision: null, settings: null, totals, switches: [], switchCount: 0 },
    ],
    ...overrides,
  };
}

const points = (s: AgentStatus, name: string) => edgeStatusFamilies(s).find((f) => f.name === name)?.points ?? [];

describe('edge status metrics', () => {
  it('give one info series per model that runs something, labelled like the request series', () => {
    const info = points(status(), 'cleave_edge_model_info');
    expect(info).toEqual([
      {
        value: 1,
        attributes: {
          agent: 'gw-1',
          model: 'fmnist',
          version: 'v1',
          split: 'after-block2',
          kind: 'split',
          codec: 'int8',
          objective: 'latency',
          tail_on: 'cloud',
        },
      },
    ]);
  });

  it('convert the link estimates to bytes per second and seconds', () => {
    const s = status();
    expect(points(s, 'cleave_edge_link_bandwidth_estimate_bytes_per_second')).toEqual([
      { value: 1_000_000, attributes: { agent: 'gw-1' } },
    ]);
    expect(points(s, 'cleave_edge_link_rtt_estimate_seconds')[0]?.value).toBeCloseTo(0.0125, 10);
    expect(points(s, 'cleave_edge_link_base_rtt_seconds')[0]?.value).toBeCloseTo(0.01, 10);
  });

  it('mark exactly the current breaker state with 1', () => {
    const breaker = points(status({ breaker: 'half-open' }), 'cleave_edge_breaker_state');
    expect(Object.fromEntries(breaker.map((p) => [p.attributes['state'], p.value]))).toEqual({
      closed: 0,
      open: 0,
      'half-open': 1,
    });
  });

  it('leave out what the agent does not know: no battery, no estimate yet', () => {
    const s = status({
      power: { onMains: true, level: undefined, charging: false, batteries: 0 },
      link: { mbps: null, latestMbps: null, rttMs: null, baseRttMs: null, samples: 0, probes: 0 },
    });
    expect(points(s, 'cleave_edge_battery_level_ratio')).toEqual([]);
    expect(points(s, 'cleave_edge_link_bandwidth_estimate_bytes_per_second')).toEqual([]);
    expect(points(s, 'cleave_edge_link_rtt_estimate_seconds')).toEqual([]);
    expect(points(s, 'cleave_edge_on_mains')).toEqual([{ value: 1, attributes: { agent: 'gw-1' } }]);
    expect(points(status(), 'cleave_edge_battery_level_ratio')).toEqual([
      { value: 0.42, attributes: { agent: 'gw-1' } },
    ]);
  });

  it('name every family in base units or as a ratio, info or state, never in milliseconds', () => {
    const names = edgeStatusFamilies(status()).map((f) => f.name);
    console.log(`edge status families: ${names.join(', ')}`);
    expect(names.filter((n) => /_ms$|_mbps$|milli/.test(n))).toEqual([]);
    expect(names.every((n) => n.startsWith('cleave_edge_'))).toBe(true);
  });
});
