// Turns one agent's stored heartbeats into the per-agent page's time series: one point per heartbeat, or per time
// bucket when there are more beats than points (so a day at 500 ms stays a few hundred points), plus a marker
// wherever the split, codec, objective or version changed between two consecutive heartbeats. Pure logic: the
// NATS read is in history-reader.ts.
import type { Heartbeat, HeartbeatModelStats } from '@cleave/proto';

/** A heartbeat as the history stream kept it: `t` is the server's timestamp of the write, not the agent's clock. */
export interface HistoryBeat {
  readonly t: number;
  readonly heartbeat: Heartbeat;
}

/**
 * One point of the series. Counts are summed over the point's interval (the `beats` heartbeats it covers, each of
 * which counts over its own heartbeat interval); rates and latencies are null when nothing ran in it (idle is not 0).
 */
export interface HistoryPoint {
  /** Server time of the point's last heartbeat, ms since the epoch. */
  readonly t: number;
  /** Heartbeats aggregated into this point. */
  readonly beats: number;
  readonly requests: number;
  /** Where requests ran, per interval: answered by an early exit, by the tail on the edge, by the cloud, by a local fallback. */
  readonly ranOn: {
    readonly edgeExit: number;
    readonly edgeTail: number;
    readonly cloud: number;
    readonly fallback: number;
  };
  /** exits / requests over the interval. */
  readonly exitRate: number | null;
  /** One beat's p50; over several, their mean weighted by requests (an approximation: quantiles do not average). */
  readonly p50Ms: number | null;
  /** One beat's p95; over several, the largest (an upper bound, so a spike is never averaged away). */
  readonly p95Ms: number | null;
  /** The agent's own estimates (from its transfers and probes), the last one of the interval. */
  readonly bandwidthMbpsEstimate: number | null;
  readonly rttMsEstimate: number | null;
  /** Battery level 0..1, the last one of the interval; null on mains. */
  readonly battery: number | null;
}

/** What changed between two consecutive heartbeats. */
export const MARKER_KINDS = ['split', 'codec', 'objective', 'version'] as const;
/** One of {@link MARKER_KINDS}. */
export type MarkerKind = (typeof MARKER_KINDS)[number];

/** A change between two consecutive heartbeats, at the server time of the later one. */
export interface HistoryMarker {
  readonly t: number;
  readonly kind: MarkerKind;
  readonly from: string;
  readonly to: string;
  /** The controller's reason for the decision the later heartbeat carries, when it gave one. */
  readonly reason: string | null;
}

/** The series of one model on one agent. */
export interface HeartbeatSeries {
  /** The model the series is of (the requested one, else the one of the latest heartbeat); null with no data. */
  readonly model: string | null;
  /** Every model seen in the window, so the page can offer the others. */
  readonly models: readonly string[];
  readonly points: readonly HistoryPoint[];
  readonly markers: readonly HistoryMarker[];
  /** Heartbeats the series was made from. */
  readonly beats: number;
}

/** Points a series has at most, unless told otherwise. */
export const MAX_SERIES_POINTS = 300;
/** Markers a series keeps at most (the latest): a flapping agent must not turn the charts into a barcode. */
export const MAX_SERIES_MARKERS = 200;

/** Requests that ran the tail on the edge: neither an exit, nor the cloud, nor a fallback. */
function ranOnOf(m: HeartbeatModelStats): HistoryPoint['ranOn'] {
  // Agents before `exits`/`cloud` were in heartbeats: derive them from the rate and the offloads.
  const edgeExit = m.exits ?? Math.round(m.exitRate * m.requests);
  const cloud = m.cloud ?? Math.max(0, m.offloads - m.fallbacks);
  return { edgeExit, cloud, fallback: m.fallbacks, edgeTail: Math.max(0, m.requests - edgeExit - cloud - m.fallbacks) };
}

/** One point from the beats of one interval (non-empty, oldest first), for one model. */
function pointOf(group: readonly HistoryBeat[], model: string): HistoryPoint {
  const ranOn = { edgeExit: 0, edgeTail: 0, cloud: 0, fallback: 0 };
  let requests = 0;
  let weightedP50 = 0;
  let p95: number | null = null;
  for (const { heartbeat } of group) {
    const m = heartbeat.models.find((s) => s.model === model);
    if (!m || m.requests === 0) continue;
    const r = ranOnOf(m);
    ranOn.edgeExit += r.edgeExit;
    ranOn.edgeTail += r.edgeTail;
    ranOn.cloud += r.cloud;
    ranOn.fallback += r.fallback;
    requests += m.requests;
    weightedP50 += m.p50Ms * m.requests;
    p95 = Math.max(p95 ?? 0, m.p95Ms);
  }
  const last = group[group.length - 1]!;
  return {
    t: last.t,
    beats: group.length,
    requests,
    ranOn,
    exitRate: requests === 0 ? null : ranOn.edgeExit / requests,
    p50Ms: requests === 0 ? null : weightedP50 / requests,
    p95Ms: requests === 0 ? null : p95,
    bandwidthMbpsEstimate: last.heartbeat.bandwidthMbps ?? null,
    rttMsEstimate: last.heartbeat.rttMs ?? null,
    battery: last.heartbeat.battery?.level ?? null,
  };
}

/** The split as the page names it: an edge tail is a different way of running the same cut. */
const splitOf = (m: HeartbeatModelStats) => (m.tailOn === 'edge' ? `${m.split} (edge tail)` : m.split);
const FIELDS: Readonly<Record<MarkerKind, (m: HeartbeatModelStats) => string>> = {
  split: splitOf,
  codec: (m) => m.codec,
  objective: (m) => m.objective ?? '(none)',
  version: (m) => m.version,
};

/** Markers where the model's split, codec, objective or version differ between consecutive heartbeats carrying it. */
export function changeMarkers(beats: readonly HistoryBeat[], model: string): HistoryMarker[] {
  const markers: HistoryMarker[] = [];
  let previous: HeartbeatModelStats | undefined;
  for (const { t, heartbeat } of beats) {
    const m = heartbeat.models.find((s) => s.model === model);
    if (!m) continue;
    if (previous) {
      for (const kind of MARKER_KINDS) {
        const from = FIELDS[kind](previous);
        const to = FIELDS[kind](m);
        if (from !== to) markers.push({ t, kind, from, to, reason: m.reason ?? null });
      }
    }
    previous = m;
  }
  return markers.slice(-MAX_SERIES_MARKERS);
}

/**
 * The series of `model` (default: the latest heartbeat's first model) over [from, to], from beats sorted oldest
 * first. More beats than `maxPoints` are grouped into `maxPoints` equal time buckets; empty buckets are left out.
 */
export function buildHeartbeatSeries(
  beats: readonly HistoryBeat[],
  window: { readonly from: number; readonly to: number },
  options: { readonly model?: string; readonly maxPoints?: number } = {},
): HeartbeatSeries {
  const maxPoints = options.maxPoints ?? MAX_SERIES_POINTS;
  if (!Number.isInteger(maxPoints) || maxPoints < 1) throw new RangeError(`'maxPoints' must be a positive integer`);
  const inWindow = beats.filter((b) => b.t >= window.from && b.t <= window.to);
  const models = [...new Set(inWindow.flatMap((b) => b.heartbeat.models.map((m) => m.model)))].sort();
  const latest = [...inWindow].reverse().find((b) => b.heartbeat.models.length > 0);
  const model = options.model ?? latest?.heartbeat.models[0]?.model ?? null;
  if (model === null) return { model: null, models, points: [], markers: [], beats: inWindow.length };

  const groups: HistoryBeat[][] = [];
  if (inWindow.length <= maxPoints) for (const b of inWindow) groups.push([b]);
  else {
    const width = Math.max(1, (window.to - window.from) / maxPoints);
    const buckets = new Map<number, HistoryBeat[]>();
    for (const b of inWindow) {
      const i = Math.min(maxPoints - 1, Math.floor((b.t - window.from) / width));
      const group = buckets.get(i) ?? [];
      group.push(b);
      buckets.set(i, group);
    }
    groups.push(...[...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g));
  }
  return {
    model,
    models,
    points: groups.map((g) => pointOf(g, model)),
    markers: changeMarkers(inWindow, model),
    beats: inWindow.length,
  };
}
