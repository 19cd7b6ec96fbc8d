// The one table of optimisation objectives: how the planner scores a candidate under each, how much exit accuracy
// each lets the edge spend, and where each sits on the battery scale. The planner, the cost model, the edge
// controller and the console all read it, so an objective added to OBJECTIVES without a spec does not compile, and
// an unknown objective string is rejected by ObjectiveSchema instead of being scored like another.
import { z } from 'zod';

/** Optimisation goals: latency, edge energy, or an equal mix of both normalised to edge-only. */
export const OBJECTIVES = ['latency', 'energy', 'balanced'] as const;
/** One of {@link OBJECTIVES}. */
export type Objective = (typeof OBJECTIVES)[number];
/** zod schema of an objective name: every schema that names an objective uses it. */
export const ObjectiveSchema = z.enum(OBJECTIVES);

/** What an agent's configuration or policy may ask for: an objective, or `auto` to let the battery decide. */
export const OBJECTIVE_MODES = ['auto', ...OBJECTIVES] as const;
/** One of {@link OBJECTIVE_MODES}. */
export type ObjectiveMode = (typeof OBJECTIVE_MODES)[number];
/** zod schema of an objective mode. */
export const ObjectiveModeSchema = z.enum(OBJECTIVE_MODES);

/** The two figures an objective scores (a CandidateCost has both). */
export interface ObjectiveCost {
  readonly latencyMs: number;
  readonly edgeJoules: number;
}

/** How one objective ranks options and spends exit accuracy. */
export interface ObjectiveSpec {
  /**
   * The value to minimise for `cost`, given edge-only's cost at the same bandwidth (undefined without an edge-only
   * candidate). It must be affine in latency and joules with coefficients that do not depend on bandwidth
   * (edge-only's cost does not): then, like them, it is affine in 1/bandwidth, which the planner's crossing points
   * rely on.
   */
  score(cost: ObjectiveCost, edgeOnly: ObjectiveCost | undefined): number;
  /**
   * Accuracy points over the calibrated budget the exits may spend: 0 keeps the calibrated operating point,
   * Infinity allows the most lenient point on the curve (the accuracy floor still applies).
   */
  readonly extraBudgetPoints: number;
  /** Place on the battery scale: 0 on mains; the agent moves up as the battery runs down. */
  readonly batteryRank: number;
}

/** Extra accuracy budget the `balanced` objective spends on exits, in points. */
export const BALANCED_EXTRA_POINTS = 1;

/** The spec of every objective. */
export const OBJECTIVE_SPECS: Readonly<Record<Objective, ObjectiveSpec>> = Object.freeze({
  latency: { score: (cost) => cost.latencyMs, extraBudgetPoints: 0, batteryRank: 0 },
  energy: { score: (cost) => cost.edgeJoules, extraBudgetPoints: Number.POSITIVE_INFINITY, batteryRank: 2 },
  balanced: {
    // Each term relative to edge-only, so milliseconds and joules weigh the same; `|| 1` guards a zero.
    score: (cost, edgeOnly) =>
      0.5 * (cost.latencyMs / (edgeOnly?.latencyMs || 1)) + 0.5 * (cost.edgeJoules / (edgeOnly?.edgeJoules || 1)),
    extraBudgetPoints: BALANCED_EXTRA_POINTS,
    batteryRank: 1,
  },
});

/** True when `value` names an objective. */
export function isObjective(value: unknown): value is Objective {
  return (OBJECTIVES as readonly unknown[]).includes(value);
}

/**
 * The spec of `objective`. Throws RangeError for a name that is not one (a caller that skipped validation), so an
 * unknown objective is never scored like another.
 */
export function objectiveSpec(objective: Objective): ObjectiveSpec {
  if (!isObjective(objective)) {
    throw new RangeError(`unknown objective ${JSON.stringify(objective)}; expected one of ${OBJECTIVES.join(', ')}`);
  }
  return OBJECTIVE_SPECS[objective];
}
