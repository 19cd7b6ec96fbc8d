// The agent's state as metric families, computed from the same snapshot `/v1/status` serves: what each model runs
// (an info series), the link estimates, the battery and the breaker. Read fresh at every scrape, so a series for a
// split or version the agent no longer runs disappears instead of staying at 1.
import type { SnapshotFamily, SnapshotPoint } from '@cleave/node-runtime';
import type { AgentStatus } from '../agent-types.js';
import { BreakerState } from '../runtime/circuit-breaker.js';

const BREAKER_STATES = Object.values(BreakerState);

/** The status gauges of one agent, every series labelled `agent`. */
export function edgeStatusFamilies(status: AgentStatus): SnapshotFamily[] {
  const agent = status.agentId;
  const one = (value: number | null | undefined): SnapshotPoint[] =>
    value === null || value === undefined || !Number.isFinite(value) ? [] : [{ value, attributes: { agent } }];
  const flag = (value: boolean): SnapshotPoint[] => [{ value: value ? 1 : 0, attributes: { agent } }];
  const running = status.models.flatMap((m) =>
    m.decision === null ? [] : [{ model: m.model, version: m.version ?? m.decision.version, decision: m.decision }],
  );
  const gauge = (name: string, description: string, points: SnapshotPoint[], unit?: string): SnapshotFamily => ({
    name,
    description,
    kind: 'gauge',
    points,
    ...(unit === undefined ? {} : { unit }),
  });
  return [
    gauge(
      'cleave_edge_model_info',
      'What each model runs now (always 1): version, split, codec, objective, where the tail runs',
      running.map(({ model, version, decision }) => ({
        value: 1,
        attributes: {
          agent,
          model,
          version,
          split: decision.split,
          kind: decision.kind,
          codec: decision.codec,
          objective: decision.objective,
          tail_on: decision.tailOn,
        },
      })),
    ),
    gauge(
      'cleave_edge_expected_exit_ratio',
      'Share of requests the plan expects an early exit to answer at the current operating point',
      running.map(({ model, version, decision }) => ({
        value: decision.expectedExitRate,
        attributes: { agent, model, version, split: decision.split },
      })),
    ),
    gauge(
      'cleave_edge_link_bandwidth_estimate_bytes_per_second',
      'Estimated uplink bandwidth (median of recent transfers and probes)',
      one(status.link.mbps === null ? null : (status.link.mbps * 1e6) / 8),
      'By/s',
    ),
    gauge(
      'cleave_edge_link_rtt_estimate_seconds',
      'Estimated round-trip time to the cloud',
      one(status.link.rttMs === null ? null : status.link.rttMs / 1000),
      's',
    ),
    gauge(
      'cleave_edge_link_base_rtt_seconds',
      'Lowest recent round-trip time (the link without queueing)',
      one(status.link.baseRttMs === null ? null : status.link.baseRttMs / 1000),
      's',
    ),
    {
      name: 'cleave_edge_link_probes',
      description: 'Link probes sent',
      kind: 'counter',
      points: one(status.link.probes),
    },
    gauge(
      'cleave_edge_battery_level_ratio',
      'Mean battery charge, 0 to 1 (absent without a battery)',
      one(status.power.level),
    ),
    gauge('cleave_edge_on_mains', '1 when no battery is draining', flag(status.power.onMains)),
    gauge(
      'cleave_edge_breaker_state',
      'Circuit breaker towards the cloud: 1 for the current state, 0 for the others',
      BREAKER_STATES.map((state) => ({ value: state === status.breaker ? 1 : 0, attributes: { agent, state } })),
    ),
    gauge('cleave_edge_cloud_connected', '1 while the NATS connection is up', flag(status.connected)),
    gauge(
      'cleave_edge_ready',
      '1 when every model has a bundle and the agent is not draining',
      flag(status.health.ready),
    ),
  ];
}
