// Whether an option's messages fit the NATS server the agent is connected to. A plan was made for the
// max_payload its partitioner assumed; the server in use may allow less, and a request or a reply over the limit
// never arrives (NATS refuses it, the cloud answers `reply_too_large`). The controller checks every option it
// chooses against the live limit with the shared cost model, and re-ranks the bundle's candidates when the plan's
// choice does not fit.
import {
  type BundleManifest,
  type CandidateCost,
  type Codec,
  costAt,
  type Objective,
  type PlanCandidate,
  type PlanContext,
  rankCandidates,
  type SplitCandidate,
} from '@cleave/proto';

/**
 * A manifest candidate as the cost model sees it: measured stage times, request and reply bytes per sample.
 * `exitsAnswer` false (a model with several final outputs) drops its exit rate: no exit answers there.
 */
export function planCandidateOf(candidate: SplitCandidate, exitsAnswer: boolean): PlanCandidate {
  const { profile } = candidate;
  return {
    id: candidate.id,
    kind: candidate.kind,
    bytesPerSample: candidate.bytesPerSample,
    edgeMs: candidate.kind === 'cloud-only' ? 0 : (profile.edge?.medianMs ?? 0),
    cloudMs: candidate.kind === 'edge-only' ? 0 : (profile.cloud?.medianMs ?? 0),
    exitRate: exitsAnswer && candidate.kind === 'split' ? (candidate.exitRate ?? 0) : 0,
    ...(candidate.kind === 'split' && profile.edgeTail !== undefined ? { edgeTailMs: profile.edgeTail.medianMs } : {}),
    ...(profile.encodeMs === undefined ? {} : { encodeMs: profile.encodeMs }),
    ...(candidate.replyBytesPerSample === undefined ? {} : { replyBytesPerSample: candidate.replyBytesPerSample }),
  };
}

/** The cost model's context for `manifest` under a live payload limit. */
function liveContext(manifest: BundleManifest, maxPayloadBytes: number, codecs: readonly Codec[]): PlanContext {
  return {
    rttMs: manifest.plan.rttMs,
    maxPayloadBytes,
    codecs,
    ...(manifest.plan.downlinkRatio === undefined ? {} : { downlinkRatio: manifest.plan.downlinkRatio }),
  };
}

/**
 * True when one sample's request and reply in `codec` fit `maxPayloadBytes` (envelope included, as the planner
 * counts them). Options that send nothing always fit.
 */
export function fitsPayload(candidate: SplitCandidate, codec: Codec, maxPayloadBytes: number): boolean {
  if (candidate.kind === 'edge-only') return true;
  const cost = costAt(planCandidateOf(candidate, false), codec, 1, {
    rttMs: 0,
    maxPayloadBytes,
    codecs: [codec],
  });
  return cost.feasible;
}

/** Request and reply bytes of one sample in `codec`, for log lines. */
export function payloadSizes(candidate: SplitCandidate, codec: Codec): { request: number; reply: number } {
  const cost = costAt(planCandidateOf(candidate, false), codec, 1, {
    rttMs: 0,
    maxPayloadBytes: Number.MAX_SAFE_INTEGER,
    codecs: [codec],
  });
  return { request: cost.payloadBytes, reply: cost.replyPayloadBytes };
}

/**
 * The best option of `manifest` at `mbps` under `objective` among those whose messages fit `maxPayloadBytes`,
 * with `codecs` allowed: the plan's own ranking, re-done for the live limit. Undefined when nothing fits (an
 * edge-only candidate always does).
 */
export function bestFitting(
  manifest: BundleManifest,
  mbps: number,
  objective: Objective,
  maxPayloadBytes: number,
  codecs: readonly Codec[],
  exitsAnswer: boolean,
): CandidateCost | undefined {
  const candidates = manifest.candidates.map((c) => planCandidateOf(c, exitsAnswer));
  return rankCandidates(candidates, mbps, objective, liveContext(manifest, maxPayloadBytes, codecs))[0];
}
