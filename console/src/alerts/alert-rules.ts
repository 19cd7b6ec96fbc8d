// The alert conditions, as a pure function of one fleet snapshot: which conditions hold now and why. How long a
// condition must hold before it is raised, and when it was raised and cleared, is the tracker's business.
import { z } from 'zod';
import type { AgentPolicy } from '@cleave/proto';
import type { CloudReplicaView, FleetAgent, ModelBundles } from '../console-data.js';

/** The kinds of alert, as the `alert` label of `cleave_console_alerts` spells them. */
export const AlertKind = {
  StaleAgent: 'stale_agent',
  FallbackSpike: 'fallback_spike',
  BreakerOpen: 'breaker_open',
  VersionDrift: 'version_drift',
  AccuracyNearFloor: 'accuracy_near_floor',
  CloudRefusing: 'cloud_refusing',
  NoReplica: 'no_replica',
} as const;
/** One of {@link AlertKind}. */
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

/** How bad an alert is: `critical` means requests are failing or an agent is out of reach. */
export type AlertSeverity = 'critical' | 'warning';

/** A condition that holds in one snapshot. */
export interface AlertCondition {
  readonly alert: AlertKind;
  readonly severity: AlertSeverity;
  /** What it is about; absent fields are empty labels. */
  readonly agent?: string;
  readonly model?: string;
  readonly replica?: string;
  /** One line saying why, with the figures. */
  readonly reason: string;
  /** How long the condition must hold before it is raised (version drift waits; the others are raised at once). */
  readonly forMs: number;
}

/** Thresholds of the rules; every field has a default. */
export const AlertRulesSchema = z
  .object({
    /** A fallback spike: at least this many fallbacks in one heartbeat interval... @default 3 */
    fallbackMinCount: z.number().int().positive().default(3),
    /** ...and at least this share of that interval's offloads. @default 0.25 */
    fallbackShare: z.number().min(0).max(1).default(0.25),
    /** An agent on another version than current for longer than this is drifting. @default 10 minutes */
    driftMinutes: z.number().min(0).default(10),
    /** Expected accuracy within this much (0..1) of the floor is near it. @default 0.005 (half a point) */
    floorMargin: z.number().min(0).max(1).default(0.005),
  })
  .strict();
/** The rules' thresholds, resolved. */
export type AlertRules = z.infer<typeof AlertRulesSchema>;

/** Everything the rules look at. */
export interface AlertSnapshot {
  readonly now: number;
  readonly agents: readonly FleetAgent[];
  readonly replicas: readonly CloudReplicaView[];
  readonly models: readonly ModelBundles[];
  readonly policies: {
    readonly fleet: AgentPolicy | undefined;
    readonly agents: Readonly<Record<string, AgentPolicy>>;
  };
  /** The floor each bundle sets (`exitPolicy.floorAccuracy`), by `model@version`; absent: no calibrated exits. */
  readonly bundleFloors: ReadonlyMap<string, number>;
  /** `overloaded` replies each replica sent since the previous snapshot (see {@link overloadedCounts}). */
  readonly overloadedSince: ReadonlyMap<string, number>;
}

/** Cumulative `overloaded` replies per replica, from the stats each replica returns over `$SRV`. */
export function overloadedCounts(replicas: readonly CloudReplicaView[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const replica of replicas) {
    let total = 0;
    for (const endpoint of replica.endpoints) {
      const failed = (endpoint.data as { failed?: Record<string, unknown> } | null | undefined)?.failed;
      const n = failed?.['overloaded'];
      if (typeof n === 'number' && Number.isFinite(n)) total += n;
    }
    counts.set(replica.id, total);
  }
  return counts;
}

/** Growth of each counter from `before` to `after`; a replica seen for the first time counts from zero. */
export function countersSince(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): Map<string, number> {
  // A restarted replica has a new id, so a counter only ever grows under one id; max() guards anyway.
  return new Map([...after].map(([id, n]) => [id, Math.max(0, n - (before.get(id) ?? 0))]));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Conditions about one agent. */
function agentConditions(agent: FleetAgent, snapshot: AlertSnapshot, rules: AlertRules): AlertCondition[] {
  const out: AlertCondition[] = [];
  const hb = agent.heartbeat;
  const intervalMs = hb.intervalMs ?? 5000;
  if (agent.stale) {
    const missed = Math.floor(agent.ageMs / intervalMs);
    const lastWords = hb.lastError === undefined ? '' : `; its last error: ${hb.lastError.slice(0, 200)}`;
    out.push({
      alert: AlertKind.StaleAgent,
      severity: 'critical',
      agent: agent.agentId,
      reason: `no heartbeat for ${missed} intervals of ${intervalMs} ms (last ${seconds(agent.ageMs)} ago): agent down or its link cut${lastWords}`,
      forMs: 0,
    });
    // What a stale heartbeat says about load or versions is old news: only staleness is reported.
    return out;
  }
  if (hb.breaker === 'open') {
    out.push({
      alert: AlertKind.BreakerOpen,
      severity: 'warning',
      agent: agent.agentId,
      reason: 'circuit breaker towards the cloud is open: the agent runs every tail locally',
      forMs: 0,
    });
  }
  const currentOf = new Map(snapshot.models.map((m) => [m.model, m.current]));
  const policy = snapshot.policies.agents[agent.agentId];
  for (const m of hb.models) {
    if (m.fallbacks >= rules.fallbackMinCount && m.fallbacks >= rules.fallbackShare * Math.max(1, m.offloads)) {
      out.push({
        alert: AlertKind.FallbackSpike,
        severity: 'warning',
        agent: agent.agentId,
        model: m.model,
        reason: `${m.fallbacks} of ${m.offloads} offloads fell back to the edge in the last ${intervalMs} ms interval`,
        forMs: 0,
      });
    }
    const current = currentOf.get(m.model);
    if (current !== undefined && m.version !== current) {
      out.push({
        alert: AlertKind.VersionDrift,
        severity: 'warning',
        agent: agent.agentId,
        model: m.model,
        reason: `serves ${m.model}@${m.version} while ${current} is current`,
        forMs: rules.driftMinutes * 60_000,
      });
    }
    if (m.expectedAccuracy !== undefined) {
      // The agent keeps above the stricter of its bundle's floor and the policy's (an agent policy overrides the fleet's).
      const policyFloor = policy?.floorAccuracy ?? snapshot.policies.fleet?.floorAccuracy;
      const floor = Math.max(snapshot.bundleFloors.get(`${m.model}@${m.version}`) ?? 0, policyFloor ?? 0);
      if (floor > 0 && m.expectedAccuracy - floor < rules.floorMargin) {
        out.push({
          alert: AlertKind.AccuracyNearFloor,
          severity: 'warning',
          agent: agent.agentId,
          model: m.model,
          reason: `expected accuracy ${pct(m.expectedAccuracy)} is within ${pct(rules.floorMargin)} of the floor ${pct(floor)}`,
          forMs: 0,
        });
      }
    }
  }
  return out;
}

/** Every condition that holds in `snapshot`, in a stable order (by kind, then subject). */
export function evaluateAlerts(snapshot: AlertSnapshot, rules: AlertRules): AlertCondition[] {
  const out = snapshot.agents.flatMap((agent) => agentConditions(agent, snapshot, rules));
  for (const [replica, refused] of snapshot.overloadedSince) {
    if (refused > 0) {
      out.push({
        alert: AlertKind.CloudRefusing,
        severity: 'critical',
        replica,
        reason: `replica answered ${refused} requests with overloaded since the last check`,
        forMs: 0,
      });
    }
  }
  const served = snapshot.models.filter((m) => m.current !== undefined);
  if (snapshot.replicas.length === 0 && served.length > 0) {
    const offloading = snapshot.agents.filter(
      (a) => !a.stale && a.heartbeat.models.some((m) => m.tailOn !== 'edge' && m.split !== 'edge-only'),
    ).length;
    out.push({
      alert: AlertKind.NoReplica,
      severity: 'critical',
      reason: `no tail replica answers $SRV while ${served.length} model(s) are current; ${offloading} agent(s) run a split that offloads`,
      forMs: 0,
    });
  }
  const order = Object.values(AlertKind);
  const subject = (c: AlertCondition) => `${c.agent ?? ''}/${c.model ?? ''}/${c.replica ?? ''}`;
  return out.sort((a, b) => order.indexOf(a.alert) - order.indexOf(b.alert) || subject(a).localeCompare(subject(b)));
}
