import {
  costAt,
  edgeOnlyCost,
  objectiveSpec,
  rankCandidates,
  OBJECTIVES,
  type CandidateCost,
  type Codec,
  type Objective,
  type PlanCandidate,
  type PlanContext,
  type PlanTable,
  type PlanTableRange,
  type TailPlacement,
} from '@cleave/proto';

/** The plan table written into a bundle (the shared cost model's table type). */
export type Plan = PlanTable;
/** One row of the plan table. */
export type PlanRange = PlanTableRange;

/** Lowest and highest bandwidths the plan table covers explicitly, in Mbps. */
export const PLAN_MIN_MBPS = 0.01;
const PLAN_MAX_MBPS = 100_000;

/** Objective value of one candidate/codec at `mbps`, normalised against edge-only where needed. */
function valueAt(
  candidates: readonly PlanCandidate[],
  c: PlanCandidate,
  codec: Codec,
  mbps: number,
  objective: Objective,
  ctx: PlanContext,
  tailOn: TailPlacement,
): number {
  return objectiveSpec(objective).score(costAt(c, codec, mbps, ctx, tailOn), edgeOnlyCost(candidates, mbps, ctx));
}

/** Same option: candidate, codec and where its tail runs. */
function sameOption(a: { candidate: string; codec: Codec; tailOn?: TailPlacement }, b: CandidateCost): boolean {
  return a.candidate === b.candidate && a.codec === b.codec && (a.tailOn ?? 'cloud') === b.tailOn;
}

/**
 * Removes candidates that another beats or ties on edge time, cloud time, request bytes, reply bytes, exit rate
 * and edge tail time at once (with at least one strictly better). Edge-only and cloud-only are always kept.
 */
export function dropDominated(candidates: readonly PlanCandidate[]): PlanCandidate[] {
  const reply = (c: PlanCandidate): number => c.replyBytesPerSample?.f32 ?? 0;
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
          reply(b) <= reply(a) &&
          (b.exitRate ?? 0) >= (a.exitRate ?? 0) &&
          (b.edgeTailMs ?? Infinity) <= (a.edgeTailMs ?? Infinity) &&
          (b.edgeMs < a.edgeMs ||
            b.cloudMs < a.cloudMs ||
            b.bytesPerSample.f32 < a.bytesPerSample.f32 ||
            reply(b) < reply(a) ||
            (b.exitRate ?? 0) > (a.exitRate ?? 0) ||
            (b.edgeTailMs ?? Infinity) < (a.edgeTailMs ?? Infinity)),
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
      const v1 = valueAt(kept, candidate, atOne.codec, 1, objective, ctx, atOne.tailOn);
      const v2 = valueAt(kept, candidate, atOne.codec, 0.5, objective, ctx, atOne.tailOn);
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
      if (current && sameOption(current, choice)) {
        current = { ...current, maxMbps: hi };
        ranges[ranges.length - 1] = current;
        continue;
      }
      const atLo = rankCandidates(kept, lo, objective, ctx).find((o) => sameOption(choice, o)) ?? choice;
      current = {
        objective,
        minMbps: current ? lo : 0,
        maxMbps: hi,
        candidate: choice.candidate,
        codec: choice.codec,
        ...(choice.tailOn === 'edge' ? { tailOn: 'edge' as const } : {}),
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
    ...(ctx.downlinkRatio === undefined ? {} : { downlinkRatio: ctx.downlinkRatio }),
    objectives: [...objectives],
    candidates: kept.map((c) => c.id),
    ranges,
  };
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
