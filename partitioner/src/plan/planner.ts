import type { CandidateKind, CodecBytes, WireCodec } from '../graph/candidates.js';
import { DEFAULT_POWER_MODEL, type PowerModel } from './power-model.js';

/** What the planner needs to know about one candidate: measured stage times and payload sizes. */
export interface PlanCandidate {
  readonly id: string;
  readonly kind: CandidateKind;
  readonly bytesPerSample: CodecBytes;
  /** Median head time on the edge device (0 for cloud-only). */
  readonly edgeMs: number;
  /** Median tail time on the cloud (0 for edge-only). */
  readonly cloudMs: number;
  /** Fraction of requests the head's early exits answer, which then skip the network and the cloud. @default 0 */
  readonly exitRate?: number;
}

/** Optimisation goals: latency, edge energy, or an equal mix of both normalised to edge-only. */
export const OBJECTIVES = ['latency', 'energy', 'balanced'] as const;
/** One of {@link OBJECTIVES}. */
export type Objective = (typeof OBJECTIVES)[number];

/** Link and transport facts the plan depends on. */
export interface PlanContext {
  readonly rttMs: number;
  readonly maxPayloadBytes: number;
  readonly codecs: readonly WireCodec[];
  readonly power?: PowerModel;
  /** Bytes a request adds around the tensors (message envelope, headers). @default 1024 */
  readonly envelopeBytes?: number;
}

/** Expected cost of one candidate with one codec at one bandwidth. */
export interface CandidateCost {
  readonly candidate: string;
  readonly codec: WireCodec;
  readonly edgeMs: number;
  readonly transferMs: number;
  readonly rttMs: number;
  readonly cloudMs: number;
  readonly latencyMs: number;
  readonly edgeJoules: number;
  readonly payloadBytes: number;
  readonly feasible: boolean;
}

/** The best option over a bandwidth range; the agent looks this up instead of re-planning. */
export interface PlanRange {
  readonly objective: Objective;
  readonly minMbps: number;
  /** null means "and above". */
  readonly maxMbps: number | null;
  readonly candidate: string;
  readonly codec: WireCodec;
  /** At minMbps, the slowest point of the range. */
  readonly expectedLatencyMs: number;
  readonly expectedEdgeJoules: number;
}

/** The plan table written into a bundle. */
export interface Plan {
  readonly rttMs: number;
  readonly maxPayloadBytes: number;
  readonly objectives: readonly Objective[];
  readonly candidates: readonly string[];
  readonly ranges: readonly PlanRange[];
}

/** Lowest and highest bandwidths the plan table covers explicitly, in Mbps. */
export const PLAN_MIN_MBPS = 0.01;
const PLAN_MAX_MBPS = 100_000;

/** Cost of a candidate/codec at `mbps`. Latency and energy are both affine in 1/bandwidth. */
export function costAt(c: PlanCandidate, codec: WireCodec, mbps: number, ctx: PlanContext): CandidateCost {
  const power = ctx.power ?? DEFAULT_POWER_MODEL;
  const sends = c.kind !== 'edge-only';
  const payload = sends ? c.bytesPerSample[codec] + (ctx.envelopeBytes ?? 1024) : 0;
  // Requests answered by an early exit in the head never cross the network: expected costs scale by (1 - exitRate).
  const offload = sends ? 1 - (c.exitRate ?? 0) : 0;
  const transferMs = (offload * (payload * 8)) / (mbps * 1000);
  const rttMs = offload * ctx.rttMs;
  const cloudMs = offload * c.cloudMs;
  const latencyMs = c.edgeMs + transferMs + rttMs + cloudMs;
  const edgeJoules =
    (power.computeWatts * c.edgeMs + power.radioWatts * transferMs + power.idleWatts * (rttMs + cloudMs)) / 1000;
  return {
    candidate: c.id,
    codec,
    edgeMs: c.edgeMs,
    transferMs,
    rttMs,
    cloudMs,
    latencyMs,
    edgeJoules,
    payloadBytes: payload,
    feasible: !sends || payload <= ctx.maxPayloadBytes,
  };
}

/** Scalar objective value of a cost; `balanced` normalises both terms by edge-only's. */
function objectiveValue(cost: CandidateCost, objective: Objective, edgeOnly: CandidateCost | undefined): number {
  if (objective === 'latency') return cost.latencyMs;
  if (objective === 'energy') return cost.edgeJoules;
  const l = edgeOnly?.latencyMs || 1;
  const e = edgeOnly?.edgeJoules || 1;
  return 0.5 * (cost.latencyMs / l) + 0.5 * (cost.edgeJoules / e);
}

/** Objective value of one candidate/codec at `mbps`, normalised against edge-only where needed. */
function valueAt(
  candidates: readonly PlanCandidate[],
  c: PlanCandidate,
  codec: WireCodec,
  mbps: number,
  objective: Objective,
  ctx: PlanContext,
): number {
  const edge = candidates.find((x) => x.kind === 'edge-only');
  return objectiveValue(costAt(c, codec, mbps, ctx), objective, edge ? costAt(edge, 'f32', mbps, ctx) : undefined);
}

/** All feasible options at one bandwidth, best first under `objective`. */
export function rankCandidates(
  candidates: readonly PlanCandidate[],
  mbps: number,
  objective: Objective,
  ctx: PlanContext,
): CandidateCost[] {
  const edge = candidates.find((c) => c.kind === 'edge-only');
  const edgeCost = edge ? costAt(edge, 'f32', mbps, ctx) : undefined;
  const options = candidates.flatMap((c) =>
    c.kind === 'edge-only' ? [costAt(c, 'f32', mbps, ctx)] : ctx.codecs.map((k) => costAt(c, k, mbps, ctx)),
  );
  return options
    .filter((o) => o.feasible)
    .sort((a, b) => objectiveValue(a, objective, edgeCost) - objectiveValue(b, objective, edgeCost));
}

/**
 * Removes candidates that another beats or ties on edge time, cloud time and bytes at once
 * (with at least one strictly better). Edge-only and cloud-only are always kept.
 */
export function dropDominated(candidates: readonly PlanCandidate[]): PlanCandidate[] {
  return candidates.filter(
    (a) =>
      a.kind !== 'split' ||
      !candidates.some(
        (b) =>
          b !== a &&
          b.kind === 'split' &&
          b.edgeMs <= a.edgeMs &&
          b.cloudMs <= a.cloudMs &&
          b.bytesPerSample.f32 <= a.bytesPerSample.f32 &&
          (b.edgeMs < a.edgeMs || b.cloudMs < a.cloudMs || b.bytesPerSample.f32 < a.bytesPerSample.f32),
      ),
  );
}

/**
 * Builds the plan table: for each objective, which candidate and codec is best over which
 * bandwidth range. Costs are affine in 1/bandwidth, so the best option only changes where two
 * cost lines cross; the table lists those crossings exactly.
 */
export function buildPlan(
  candidates: readonly PlanCandidate[],
  ctx: PlanContext,
  objectives: readonly Objective[] = OBJECTIVES,
): Plan {
  const kept = dropDominated(candidates);
  const ranges: PlanRange[] = [];
  for (const objective of objectives) {
    const best = (mbps: number): CandidateCost | undefined => rankCandidates(kept, mbps, objective, ctx)[0];
    // Each option's objective value is affine in x = 1/Mbps: read it at x = 1 and x = 2.
    const lines = rankCandidates(kept, 1, objective, ctx).map((atOne) => {
      const candidate = kept.find((c) => c.id === atOne.candidate)!;
      const v1 = valueAt(kept, candidate, atOne.codec, 1, objective, ctx);
      const v2 = valueAt(kept, candidate, atOne.codec, 0.5, objective, ctx);
      return { slope: v2 - v1, intercept: 2 * v1 - v2 };
    });
    const xs = new Set<number>([1 / PLAN_MAX_MBPS, 1 / PLAN_MIN_MBPS]);
    for (let i = 0; i < lines.length; i++) {
      for (let j = i + 1; j < lines.length; j++) {
        const a = lines[i]!;
        const b = lines[j]!;
        if (a.slope === b.slope) continue;
        const x = (b.intercept - a.intercept) / (a.slope - b.slope);
        if (x > 1 / PLAN_MAX_MBPS && x < 1 / PLAN_MIN_MBPS) xs.add(x);
      }
    }
    const bandwidths = [...xs].map((x) => 1 / x).sort((a, b) => a - b);
    let current: PlanRange | undefined;
    for (let k = 0; k + 1 < bandwidths.length; k++) {
      const lo = bandwidths[k]!;
      const hi = bandwidths[k + 1]!;
      const choice = best(Math.sqrt(lo * hi));
      if (choice === undefined) continue;
      if (current && current.candidate === choice.candidate && current.codec === choice.codec) {
        current = { ...current, maxMbps: hi };
        ranges[ranges.length - 1] = current;
        continue;
      }
      const atLo =
        rankCandidates(kept, lo, objective, ctx).find(
          (o) => o.candidate === choice.candidate && o.codec === choice.codec,
        ) ?? choice;
      current = {
        objective,
        minMbps: current ? lo : 0,
        maxMbps: hi,
        candidate: choice.candidate,
        codec: choice.codec,
        expectedLatencyMs: round(atLo.latencyMs),
        expectedEdgeJoules: round(atLo.edgeJoules, 6),
      };
      ranges.push(current);
    }
    if (current) ranges[ranges.length - 1] = { ...current, maxMbps: null };
  }
  return {
    rttMs: ctx.rttMs,
    maxPayloadBytes: ctx.maxPayloadBytes,
    objectives: [...objectives],
    candidates: kept.map((c) => c.id),
    ranges,
  };
}

/** The plan's choice for an objective at a measured bandwidth. */
export function lookupPlan(plan: Plan, objective: Objective, mbps: number): PlanRange | undefined {
  return plan.ranges.find(
    (r) => r.objective === objective && mbps >= r.minMbps && (r.maxMbps === null || mbps < r.maxMbps),
  );
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
