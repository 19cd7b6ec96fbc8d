import { type Heartbeat, MAX_HEARTBEAT_SWITCHES, MAX_SWITCH_REASON, PROTOCOL_VERSION } from '@cleave/proto';
import type { SwitchRecord } from '../agent-types.js';
import type { LinkEstimate } from '../adapt/bandwidth-estimator.js';
import type { PowerState } from '../adapt/battery-monitor.js';
import type { Decision } from '../adapt/model-controller.js';
import type { StatsSnapshot } from './request-stats.js';

/** What one heartbeat reports. */
export interface HeartbeatInputs {
  readonly agentId: string;
  readonly intervalMs: number;
  readonly link: LinkEstimate;
  readonly power: PowerState;
  /**
   * Per model: its current decision (null before its first bundle), the statistics of the last interval, and its
   * recent switches (oldest first; the last one's reason is why the decision in use was taken).
   */
  readonly models: readonly {
    readonly decision: Decision | null;
    readonly window: StatsSnapshot;
    readonly switches?: readonly SwitchRecord[];
  }[];
  readonly lastError: string | undefined;
  /** The circuit breaker's state towards the cloud. */
  readonly breaker?: string;
  /** Bundle downloads in progress; the heartbeat carries them when there is any. */
  readonly downloads?: readonly HeartbeatDownloadInput[];
}

/** A bundle download in progress, as the bundle manager reports it. */
export interface HeartbeatDownloadInput {
  readonly model: string;
  readonly version: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly percent: number;
}

/** The heartbeat message for the console: versions, split, codec, operating point, link, battery, counts. */
export function buildHeartbeat(inputs: HeartbeatInputs): Heartbeat {
  const { link, power } = inputs;
  return {
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId: inputs.agentId,
    sentAt: Date.now(),
    intervalMs: inputs.intervalMs,
    models: inputs.models.flatMap(({ decision, window, switches = [] }) =>
      decision === null
        ? []
        : [
            {
              model: decision.model,
              version: decision.version,
              split: decision.split,
              codec: decision.codec,
              tailOn: decision.tailOn,
              exitRate: window.exitRate,
              p50Ms: window.p50Ms,
              p95Ms: window.p95Ms,
              offloads: window.offloads,
              fallbacks: window.fallbacks,
              requests: window.requests,
              objective: decision.objective,
              budgetPoints: decision.budgetPoints,
              expectedAccuracy: decision.expectedAccuracy,
              exits: window.exits,
              cloud: window.cloud,
              ...switchFields(switches),
            },
          ],
    ),
    ...(link.mbps === undefined ? {} : { bandwidthMbps: link.mbps }),
    ...(link.rttMs === undefined ? {} : { rttMs: link.rttMs }),
    ...(power.level === undefined ? {} : { battery: { level: power.level, charging: power.charging } }),
    ...(inputs.lastError === undefined ? {} : { lastError: inputs.lastError.slice(0, 4096) }),
    ...(inputs.breaker === undefined ? {} : { breaker: inputs.breaker.slice(0, 16) }),
    ...(inputs.downloads === undefined || inputs.downloads.length === 0
      ? {}
      : {
          downloads: inputs.downloads.map((d) => ({
            model: d.model,
            version: d.version,
            bytes: Math.max(0, Math.round(d.bytesDone)),
            totalBytes: Math.max(0, Math.round(d.bytesTotal)),
            percent: Math.min(100, Math.max(0, d.percent)),
          })),
        }),
  };
}

/**
 * The decision's reason and the latest switches, bounded: a heartbeat is also kept as history (every beat of every
 * agent for a day), so it carries the last few switches with reasons cut short, not the agent's whole log.
 */
function switchFields(switches: readonly SwitchRecord[]): Pick<Heartbeat['models'][number], 'reason' | 'switches'> {
  if (switches.length === 0) return {};
  const cut = (text: string) => text.slice(0, MAX_SWITCH_REASON);
  const recent = switches.slice(-MAX_HEARTBEAT_SWITCHES).map((s) => ({
    at: s.at.slice(0, 32),
    from: s.from === null ? null : s.from.slice(0, 256),
    to: s.to.slice(0, 256),
    reason: cut(s.reason),
  }));
  return { reason: recent[recent.length - 1]!.reason, switches: recent };
}
