import { type BundlePlan, lookupPlan, type Objective, type PlanRange } from '@cleave/proto';

/** The plan objective actually used: the one asked for when the plan has it, else the plan's first. */
export function planObjective(plan: BundlePlan, objective: Objective): Objective {
  return plan.objectives.includes(objective) ? objective : plan.objectives[0]!;
}

/**
 * The plan range for `objective` that contains `mbps` (ranges are [minMbps, maxMbps)); below the first range the
 * first, above the last the last. Undefined only when the plan has no range for the objective at all.
 */
export function lookupPlanRange(plan: BundlePlan, objective: Objective, mbps: number): PlanRange | undefined {
  const inside = lookupPlan(plan, objective, mbps);
  if (inside !== undefined) return inside;
  const ranges = plan.ranges.filter((r) => r.objective === objective).sort((a, b) => a.minMbps - b.minMbps);
  if (ranges.length === 0) return undefined;
  return mbps < ranges[0]!.minMbps ? ranges[0] : ranges.at(-1);
}

/** True when `mbps` lies outside [min/(1+margin), max×(1+margin)): far enough out of a range to act on it. */
export function isOutsideBand(
  range: { minMbps: number; maxMbps: number | null },
  mbps: number,
  margin: number,
): boolean {
  if (mbps < range.minMbps / (1 + margin)) return true;
  return range.maxMbps !== null && mbps >= range.maxMbps * (1 + margin);
}

/** `[1.75, 4.61) Mbps`, `[13.7, ∞) Mbps`: a range for log lines. */
export function formatRange(range: { minMbps: number; maxMbps: number | null }): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `[${f(range.minMbps)}, ${range.maxMbps === null ? '∞' : f(range.maxMbps)}) Mbps`;
}
