// Battery → objective, and objective → exit operating point. Pure functions; the controller calls them.
//
// The rule (documented in the README):
//   mains power, or battery ≥ balancedBelow (50%)     → latency:  the bundle's calibrated operating point
//   discharging, energyBelow ≤ battery < balancedBelow → balanced: one more point of accuracy budget
//   discharging, battery < energyBelow (20%)           → energy:   the most lenient point on the curve
// How much budget each objective adds and where it ranks on the battery scale come from proto's OBJECTIVE_SPECS.
// Every point is taken from the calibrated curve, and never one whose accuracy is below the bundle's floor plus
// a safety margin (calibration accuracy overstates deployment accuracy a little).
import { type ExitPolicy, type Objective, objectiveSpec, type OperatingPoint } from '@cleave/proto';
import type { PowerState } from './battery-monitor.js';

/** Battery levels (0..1) below which the objective moves towards energy, and the band that stops flapping. */
export interface BatteryTiers {
  readonly balancedBelow: number;
  readonly energyBelow: number;
  readonly hysteresis: number;
}

/**
 * The objective for the power state. Moving towards energy happens as soon as a threshold is crossed; moving back
 * needs the level `hysteresis` above it, so a battery hovering at 50% does not flip the objective every poll.
 */
export function objectiveForPower(power: PowerState, tiers: BatteryTiers, previous?: Objective): Objective {
  if (power.onMains || power.level === undefined) return 'latency';
  const level = power.level;
  const classify = (margin: number): Objective =>
    level < tiers.energyBelow + margin ? 'energy' : level < tiers.balancedBelow + margin ? 'balanced' : 'latency';
  const rank = (objective: Objective): number => objectiveSpec(objective).batteryRank;
  const down = classify(0);
  if (previous === undefined || rank(down) >= rank(previous)) return down;
  const up = classify(tiers.hysteresis);
  return rank(up) < rank(previous) ? up : previous;
}

/** Settings of {@link chooseOperatingPoint}. */
export interface OperatingPointOptions {
  /** Base accuracy budget in points; default: the bundle's calibrated budget. */
  readonly basePoints?: number;
  /** Stay this many points above the floor. */
  readonly floorMarginPoints: number;
  /** A stricter floor than the bundle's (e.g. from a policy); the bundle's floor always applies. */
  readonly floorAccuracy?: number;
}

/** The chosen exit behaviour. */
export interface ChosenOperatingPoint {
  readonly point: OperatingPoint;
  /** The accuracy the point must keep: the bundle's floor (or a stricter one) plus the margin. */
  readonly minAccuracy: number;
}

/**
 * Picks the exit operating point for an objective from the calibrated curve: the point with the largest budget
 * not above the objective's target, among those whose calibrated accuracy stays at or above the floor + margin.
 * With none allowed, no exit answers (every threshold null).
 */
export function chooseOperatingPoint(
  policy: ExitPolicy,
  objective: Objective,
  options: OperatingPointOptions,
): ChosenOperatingPoint {
  const floor = Math.max(policy.floorAccuracy, options.floorAccuracy ?? 0);
  const minAccuracy = floor + options.floorMarginPoints / 100;
  const base = options.basePoints ?? policy.budgetPoints;
  // Infinity for an objective with an unlimited budget; an unknown objective throws instead of getting one.
  const target = base + objectiveSpec(objective).extraBudgetPoints;
  const points = [policy.operatingPoint, ...policy.curve];
  let best: OperatingPoint | undefined;
  for (const point of points) {
    if (point.budgetPoints > target + 1e-9 || point.accuracy < minAccuracy - 1e-9) continue;
    if (
      best === undefined ||
      point.budgetPoints > best.budgetPoints ||
      (point.budgetPoints === best.budgetPoints && point.exitRate > best.exitRate)
    ) {
      best = point;
    }
  }
  return { point: best ?? noExits(policy), minAccuracy };
}

/** The operating point where no exit answers: every sample goes to the final output. */
export function noExits(policy: ExitPolicy): OperatingPoint {
  const thresholds = Object.fromEntries(Object.keys(policy.operatingPoint.thresholds).map((k) => [k, null]));
  return {
    budgetPoints: 0,
    thresholds,
    exitRate: 0,
    accuracy: policy.finalAccuracy,
    perExit: policy.operatingPoint.perExit.map((e) => ({ output: e.output, rate: 0, accuracy: 0 })),
  };
}
