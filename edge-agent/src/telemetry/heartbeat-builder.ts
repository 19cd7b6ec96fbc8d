import { type Heartbeat, PROTOCOL_VERSION } from '@cleave/proto';
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
  /** Per model: its current decision (null before its first bundle) and the statistics of the last interval. */
  readonly models: readonly { readonly decision: Decision | null; readonly window: StatsSnapshot }[];
  readonly lastError: string | undefined;
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
    models: inputs.models.flatMap(({ decision, window }) =>
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
            },
          ],
    ),
    ...(link.mbps === undefined ? {} : { bandwidthMbps: link.mbps }),
    ...(link.rttMs === undefined ? {} : { rttMs: link.rttMs }),
    ...(power.level === undefined ? {} : { battery: { level: power.level, charging: power.charging } }),
    ...(inputs.lastError === undefined ? {} : { lastError: inputs.lastError.slice(0, 4096) }),
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
