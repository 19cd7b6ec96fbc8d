// Ranks a bundle's options with live estimates, with the planner's own cost model and objective scores, and says
// whether the best one beats the option in use by enough to switch. Pure; the controller adds the dwell time.
import {
  type BundleManifest,
  type CandidateCost,
  type Codec,
  edgeOnlyCost,
  type Objective,
  objectiveValue,
  type PlanContext,
  rankCandidates,
  type TailPlacement,
} from '@cleave/proto';
import type { LiveCostView } from './live-costs.js';

/** One option of the live ranking, for decisions and status output. */
export interface LiveOption {
  /** `split-10/f16` or `split-10/edge-tail`. */
  readonly option: string;
  readonly candidate: string;
  readonly codec: Codec;
  readonly tailOn: TailPlacement;
  readonly latencyMs: number;
  readonly edgeJoules: number;
  /** The objective's score (lower is better): latency ms for `latency`. */
  readonly score: number;
}

/** What the ranking needs besides the estimates. */
export interface LiveRankInputs {
  readonly mbps: number;
  readonly objective: Objective;
  /** Codecs the policy allows (just the forced one when a codec is forced). */
  readonly codecs: readonly Codec[];
  /** The connected server's max_payload, else the plan's. */
  readonly maxPayloadBytes?: number;
}

/** `split-18/f16` (tail in the cloud) or `split-09/edge-tail` (staged on the device). */
function optionName(cost: Pick<CandidateCost, 'candidate' | 'codec' | 'tailOn'>): string {
  return cost.tailOn === 'edge' ? `${cost.candidate}/edge-tail` : `${cost.candidate}/${cost.codec}`;
}

/**
 * Every feasible option of `manifest` under the live estimates, best first. Staged execution on the device is an
 * option only when the plan itself chose it somewhere: manifests do not record whether the planner was allowed
 * edge tails (`--no-edge-tails`), and a plan that never used one is taken as not allowing it.
 */
export function rankLive(manifest: BundleManifest, view: LiveCostView, inputs: LiveRankInputs): LiveOption[] {
  const ctx: PlanContext = {
    rttMs: manifest.plan.rttMs,
    maxPayloadBytes: inputs.maxPayloadBytes ?? manifest.plan.maxPayloadBytes,
    codecs: inputs.codecs,
    edgeTails: manifest.plan.ranges.some((r) => r.tailOn === 'edge'),
    ...(manifest.plan.downlinkRatio === undefined ? {} : { downlinkRatio: manifest.plan.downlinkRatio }),
  };
  const edgeOnly = edgeOnlyCost(view.candidates, inputs.mbps, ctx);
  return rankCandidates(view.candidates, inputs.mbps, inputs.objective, ctx).map((cost) => ({
    option: optionName(cost),
    candidate: cost.candidate,
    codec: cost.codec,
    tailOn: cost.tailOn,
    latencyMs: cost.latencyMs,
    edgeJoules: cost.edgeJoules,
    score: objectiveValue(cost, inputs.objective, edgeOnly),
  }));
}

/** The verdict of {@link liveVerdict}. */
export interface LiveVerdict {
  readonly best: LiveOption | undefined;
  /** The option in use, as ranked now; undefined when it is no longer feasible. */
  readonly current: LiveOption | undefined;
  /** True when `best` is another option and beats the current one's score by more than `margin`. */
  readonly better: boolean;
}

/** Whether the best option of `ranked` is worth leaving `current` for: hysteresis by a relative margin. */
export function liveVerdict(ranked: readonly LiveOption[], current: string, margin: number): LiveVerdict {
  const best = ranked[0];
  const inUse = ranked.find((o) => o.option === current);
  if (best === undefined || best.option === current) return { best, current: inUse, better: false };
  // Scores can be near zero or negative (`balanced` normalises), so compare by the gap against the larger size.
  const better =
    inUse === undefined ||
    inUse.score - best.score > margin * Math.max(Math.abs(inUse.score), Math.abs(best.score), 1e-9);
  return { best, current: inUse, better };
}
