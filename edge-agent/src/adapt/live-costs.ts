// Live estimates of what the cost model needs, measured on the agent's own requests: head and edge-tail times per
// candidate, the cloud's queue and compute time per tail (from replies), and the exit rate per split. The
// controller re-ranks the bundle's candidates with them, using the planner's cost model (see live-ranking.ts).
//
// An estimate is an EWMA that counts only once it has `minSamples` samples and is younger than `staleMs`. A
// candidate without a fresh estimate of its own keeps its profiled time scaled by the ratio of live to profiled
// time of the candidates that did run: the device getting twice as slow doubles every candidate's edge time, not
// only the one in use. The cloud's queue is one figure shared by the tails not measured lately (a replica's load
// is not a property of one tail). Ratios and the shared queue keep their last value when nothing is fresh, so what
// drove the agent away from an option is remembered until it is measured again.
import type { BundleManifest, PlanCandidate } from '@cleave/proto';
import { exitsMayAnswer } from '../runtime/final-outputs.js';
import { planCandidateOf } from './payload-fit.js';

/** How live estimates are kept and how far they must move a choice. */
export interface LiveCostSettings {
  /** Samples an estimate needs before it replaces the profile. */
  readonly minSamples: number;
  /** EWMA weight of the newest sample (0..1]. */
  readonly alpha: number;
  /** A candidate's own estimate older than this gives way to its profile × the live ratio. */
  readonly staleMs: number;
  /** A new option must beat the current one's estimated score by this fraction (0.1 = 10%)... */
  readonly margin: number;
  /** ...for this long, and the current option must have been in use this long, before the agent switches. */
  readonly dwellMs: number;
}

/** What one answered request measured. Fields are absent for stages that did not run. */
export interface CostObservation {
  readonly split: string;
  readonly at: number;
  /** The head on the device (the whole model for edge-only). */
  readonly headMs?: number;
  /** The tail on the device: staged by plan, or a fallback. */
  readonly edgeTailMs?: number;
  /** What the cloud's reply reported. */
  readonly cloud?: { readonly queueMs: number; readonly processingMs: number };
  /** Whether an exit answered; absent when none could (no exits in the head, or several final outputs). */
  readonly exited?: boolean;
}

/** An exponentially weighted mean with its sample count and the time of its last sample. */
export interface Ewma {
  readonly value: number;
  readonly n: number;
  readonly at: number;
}

/** The raw estimates of one candidate. */
export interface CandidateEstimates {
  head?: Ewma;
  edgeTail?: Ewma;
  queue?: Ewma;
  processing?: Ewma;
  exit?: Ewma;
}

/** Ratios of live to profiled figures, over the candidates measured lately; null before any was. */
export interface LiveRatios {
  /** Device slowdown: live ÷ profiled edge time (heads and edge tails). */
  readonly edge: number | null;
  /** Live ÷ profiled cloud compute time. */
  readonly cloud: number | null;
  /** The cloud's queue time for tails not measured lately, ms. */
  readonly queueMs: number | null;
  /** Live ÷ calibrated exit rate. */
  readonly exit: number | null;
}

/** Where each figure of a live candidate came from. */
export type EstimateSource = 'live' | 'scaled' | 'profile';

/** One candidate as the live cost model sees it, for status output. */
export interface LiveCandidateStatus {
  readonly id: string;
  readonly edgeMs: number;
  readonly edgeTailMs: number | null;
  readonly cloudQueueMs: number;
  readonly cloudComputeMs: number;
  readonly exitRate: number;
  readonly sources: { readonly edge: EstimateSource; readonly cloud: EstimateSource; readonly exit: EstimateSource };
  /** Samples behind the candidate's own estimates. */
  readonly samples: { readonly head: number; readonly cloud: number; readonly exits: number };
}

/** Adds a sample; the first samples weigh as a plain mean, so one outlier does not set the estimate. */
export function pushSample(e: Ewma | undefined, x: number, alpha: number, at: number): Ewma {
  if (e === undefined) return { value: x, n: 1, at };
  const weight = Math.max(alpha, 1 / (e.n + 1));
  return { value: e.value + weight * (x - e.value), n: e.n + 1, at };
}

function fresh(e: Ewma | undefined, now: number, s: LiveCostSettings): e is Ewma {
  return e !== undefined && e.n >= s.minSamples && now - e.at <= s.staleMs;
}

// Sample-weighted mean of live ÷ profiled over the fresh estimates; `previous` when none is fresh.
function ratioOf(
  pairs: readonly [Ewma | undefined, number][],
  now: number,
  s: LiveCostSettings,
  previous: number | null,
) {
  let weighted = 0;
  let weights = 0;
  for (const [e, profiled] of pairs) {
    if (!fresh(e, now, s) || !(profiled > 0)) continue;
    weighted += e.n * (e.value / profiled);
    weights += e.n;
  }
  return weights > 0 ? weighted / weights : previous;
}

/** The ratios from the candidates measured lately, falling back to `previous` for each one nothing measured. */
export function liveRatios(
  statics: readonly PlanCandidate[],
  estimates: ReadonlyMap<string, CandidateEstimates>,
  now: number,
  s: LiveCostSettings,
  previous: LiveRatios,
): LiveRatios {
  const of = (c: PlanCandidate) => estimates.get(c.id) ?? {};
  const queues = statics.map((c) => of(c).queue).filter((e): e is Ewma => fresh(e, now, s));
  const queueWeight = queues.reduce((sum, e) => sum + e.n, 0);
  return {
    edge: ratioOf(
      statics.flatMap((c): [Ewma | undefined, number][] => [
        [of(c).head, c.edgeMs],
        [of(c).edgeTail, c.edgeTailMs ?? 0],
      ]),
      now,
      s,
      previous.edge,
    ),
    cloud: ratioOf(
      statics.map((c) => [of(c).processing, c.cloudMs]),
      now,
      s,
      previous.cloud,
    ),
    queueMs: queueWeight > 0 ? queues.reduce((sum, e) => sum + e.n * e.value, 0) / queueWeight : previous.queueMs,
    exit: ratioOf(
      statics.map((c) => [of(c).exit, c.exitRate ?? 0]),
      now,
      s,
      previous.exit,
    ),
  };
}

/**
 * The candidates with live figures: a fresh estimate of its own where there is one, else the profile scaled by
 * `ratios`. The cloud's time is its queue plus its compute, as the cost model's `cloudMs` counts it.
 */
export function liveCandidates(
  statics: readonly PlanCandidate[],
  estimates: ReadonlyMap<string, CandidateEstimates>,
  ratios: LiveRatios,
  now: number,
  s: LiveCostSettings,
): { candidates: PlanCandidate[]; status: LiveCandidateStatus[] } {
  const edgeRatio = ratios.edge ?? 1;
  const candidates: PlanCandidate[] = [];
  const status: LiveCandidateStatus[] = [];
  for (const c of statics) {
    const e = estimates.get(c.id) ?? {};
    const edgeMs = c.kind === 'cloud-only' ? 0 : fresh(e.head, now, s) ? e.head.value : c.edgeMs * edgeRatio;
    const edgeTailMs =
      c.edgeTailMs === undefined ? undefined : fresh(e.edgeTail, now, s) ? e.edgeTail.value : c.edgeTailMs * edgeRatio;
    const sends = c.kind !== 'edge-only';
    const processing = !sends ? 0 : fresh(e.processing, now, s) ? e.processing.value : c.cloudMs * (ratios.cloud ?? 1);
    const queue = !sends ? 0 : fresh(e.queue, now, s) ? e.queue.value : (ratios.queueMs ?? 0);
    const staticExit = c.exitRate ?? 0;
    const exitRate =
      staticExit === 0
        ? 0
        : fresh(e.exit, now, s)
          ? e.exit.value
          : Math.min(1, Math.max(0, staticExit * (ratios.exit ?? 1)));
    const encodeMs =
      c.encodeMs === undefined
        ? undefined
        : Object.fromEntries(Object.entries(c.encodeMs).map(([k, v]) => [k, v * edgeRatio]));
    candidates.push({
      ...c,
      edgeMs,
      cloudMs: processing + queue,
      exitRate,
      ...(edgeTailMs === undefined ? {} : { edgeTailMs }),
      ...(encodeMs === undefined ? {} : { encodeMs }),
    });
    const source = (own: Ewma | undefined, ratio: number | null): EstimateSource =>
      fresh(own, now, s) ? 'live' : ratio === null ? 'profile' : 'scaled';
    status.push({
      id: c.id,
      edgeMs,
      edgeTailMs: edgeTailMs ?? null,
      cloudQueueMs: queue,
      cloudComputeMs: processing,
      exitRate,
      sources: {
        edge: source(e.head, ratios.edge),
        cloud: source(e.processing, ratios.cloud),
        exit: source(e.exit, ratios.exit),
      },
      samples: { head: e.head?.n ?? 0, cloud: e.processing?.n ?? 0, exits: e.exit?.n ?? 0 },
    });
  }
  return { candidates, status };
}

/** What {@link LiveCosts.view} returns. */
export interface LiveCostView {
  readonly version: string;
  /** True once some edge or cloud estimate has had enough fresh samples: the controller re-ranks only then. */
  readonly informed: boolean;
  readonly ratios: LiveRatios;
  readonly candidates: readonly PlanCandidate[];
  readonly status: readonly LiveCandidateStatus[];
}

/** The live estimates of one model's current bundle. */
export interface LiveCosts {
  /** Records one request's measurements on `version`; other versions are ignored. */
  observe(version: string, observation: CostObservation): void;
  /** A new bundle: its profiles differ, so the estimates start again. */
  reset(manifest: BundleManifest): void;
  view(now: number): LiveCostView;
}

/** Creates the estimates for `manifest`. */
export function createLiveCosts(manifest: BundleManifest, settings: LiveCostSettings): LiveCosts {
  let version = manifest.version;
  let statics: PlanCandidate[] = [];
  let estimates = new Map<string, CandidateEstimates>();
  const none: LiveRatios = { edge: null, cloud: null, queueMs: null, exit: null };
  let ratios = none;
  const reset = (next: BundleManifest) => {
    version = next.version;
    const exitsAnswer = exitsMayAnswer(next);
    statics = next.candidates.map((c) => planCandidateOf(c, exitsAnswer));
    estimates = new Map();
    ratios = none;
  };
  reset(manifest);
  return {
    observe(at, o) {
      if (at !== version) return;
      const e = estimates.get(o.split) ?? {};
      const push = (prev: Ewma | undefined, x: number | undefined) =>
        x === undefined || !Number.isFinite(x) || x < 0 ? prev : pushSample(prev, x, settings.alpha, o.at);
      e.head = push(e.head, o.headMs);
      e.edgeTail = push(e.edgeTail, o.edgeTailMs);
      e.queue = push(e.queue, o.cloud?.queueMs);
      e.processing = push(e.processing, o.cloud?.processingMs);
      e.exit = push(e.exit, o.exited === undefined ? undefined : o.exited ? 1 : 0);
      estimates.set(o.split, e);
    },
    reset,
    view(now) {
      ratios = liveRatios(statics, estimates, now, settings, ratios);
      const { candidates, status } = liveCandidates(statics, estimates, ratios, now, settings);
      // Once anything was measured, the ratios remember it: the live ranking goes on after a quiet spell.
      const informed = ratios.edge !== null || ratios.cloud !== null;
      return { version, informed, ratios, candidates, status };
    },
  };
}
