/**
 * The cost model shared by the planner (partitioner), the controller (edge agent) and the console:
 * expected latency and edge energy of running a candidate at a bandwidth. Pure and isomorphic. Codecs come from
 * codecs.ts and objectives (how a cost is scored) from objectives.ts.
 */
import { CODEC_SPECS, type Codec, estimateTensorBytes, LOSSLESS_CODEC, mapCodecs, type PerCodec } from './codecs.js';
import { elementTypeBytes, FLOAT_DTYPE } from './dtypes.js';
import { type Objective, objectiveSpec } from './objectives.js';

/** Where the work of a candidate runs. */
export type CostCandidateKind = 'edge-only' | 'cloud-only' | 'split';

/**
 * Where a split candidate's tail runs for the requests its exits do not answer: in the cloud (the cut tensor is
 * sent), or on the edge itself (staged execution: the device stops at the first confident exit and otherwise
 * finishes locally, so easy inputs cost only the head). Edge-only and cloud-only always report `cloud`.
 */
export type TailPlacement = 'cloud' | 'edge';

/** Per-sample payload bytes of a candidate under each codec. */
export type CodecBytes = PerCodec<number>;

/**
 * Edge device power model for the `energy` objective: joules = compute W × head time
 * + radio W × transfer time + idle W × time waiting for the cloud.
 *
 * Defaults describe a Raspberry-Pi-4-class gateway on Wi-Fi:
 * - compute 3.7 W: a Pi 4 draws about 2.7 W idle and 6.4 W with all cores busy (Raspberry Pi
 *   Foundation / Tom's Hardware measurements), so inference adds roughly 3.7 W;
 * - radio 1.3 W: Wi-Fi uplink power measured by Huang et al., "A Close Examination of
 *   Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012 (Wi-Fi ≈ 1.2–1.4 W
 *   while sending; LTE is higher, ≈ 1.3 W + 0.44 W per Mbps, so raise it for cellular links);
 * - idle 0.9 W: the extra draw of a board waiting on the network with the radio associated.
 */
export interface PowerModel {
  readonly computeWatts: number;
  readonly radioWatts: number;
  readonly idleWatts: number;
}

/** See {@link PowerModel} for where these figures come from. */
export const DEFAULT_POWER_MODEL: PowerModel = Object.freeze({ computeWatts: 3.7, radioWatts: 1.3, idleWatts: 0.9 });

/** What the planner needs to know about one candidate: measured stage times and payload sizes. */
export interface PlanCandidate {
  readonly id: string;
  readonly kind: CostCandidateKind;
  readonly bytesPerSample: CodecBytes;
  /** Median head time on the edge device (0 for cloud-only). */
  readonly edgeMs: number;
  /** Median tail time on the cloud (0 for edge-only). */
  readonly cloudMs: number;
  /** Fraction of requests the head's early exits answer, which then skip the network and the cloud. @default 0 */
  readonly exitRate?: number;
  /** Median tail time on the edge device; with exits, it makes the candidate an option with its tail on the edge. */
  readonly edgeTailMs?: number;
  /** Median time on the edge device to encode the cut tensors with each codec. @default 0 */
  readonly encodeMs?: Partial<PerCodec<number>>;
  /**
   * Bytes per sample of the cloud's reply (every final output) when the request uses each codec: float outputs in
   * the codec's `replyCodec`, other outputs raw (see {@link replyBytes}). @default 0 for every codec (bundles
   * written before replies were costed)
   */
  readonly replyBytesPerSample?: CodecBytes;
}

/** An output of the model as {@link replyBytes} sizes it: its element type and its elements per sample. */
export interface ReplyOutput {
  /** Element type name (`float32`, `int64`, `bool`...). */
  readonly dtype: string;
  /** Elements of the output for one sample (the product of its dims without the batch dim). */
  readonly elementsPerSample: number;
}

/**
 * Reply bytes per sample for each request codec: float32 outputs sized in the codec's reply codec (f32 → f32;
 * f16 and int8 → f16), other outputs raw at their element width (8 bytes for a type Cleave has no name for, so a
 * reply is never underestimated). Pass the final outputs only: exits never leave the edge.
 */
export function replyBytes(outputs: readonly ReplyOutput[]): CodecBytes {
  for (const o of outputs) {
    if (!Number.isSafeInteger(o.elementsPerSample) || o.elementsPerSample < 0) {
      throw new RangeError(
        `"elementsPerSample" of a ${o.dtype} output must be a non-negative safe integer; got ${String(o.elementsPerSample)}`,
      );
    }
  }
  return mapCodecs((codec) =>
    outputs.reduce(
      (sum, o) =>
        sum +
        (o.dtype === FLOAT_DTYPE
          ? estimateTensorBytes(CODEC_SPECS[codec].replyCodec, o.elementsPerSample)
          : o.elementsPerSample * (elementTypeBytes(o.dtype) ?? 8)),
      0,
    ),
  );
}

/** Link and transport facts the plan depends on. */
export interface PlanContext {
  readonly rttMs: number;
  readonly maxPayloadBytes: number;
  readonly codecs: readonly Codec[];
  readonly power?: PowerModel;
  /** Bytes a request adds around the tensors (message envelope, headers). @default 1024 */
  readonly envelopeBytes?: number;
  /**
   * Whether a split with exits may also run its tail on the edge (staged execution). Off keeps every hard case
   * for the cloud, e.g. when the device's CPU is needed elsewhere. @default true
   */
  readonly edgeTails?: boolean;
  /**
   * Downlink bandwidth ÷ uplink bandwidth: replies travel at `mbps × downlinkRatio`. Bandwidths in plans are the
   * uplink's. @default 1
   */
  readonly downlinkRatio?: number;
}

/** Expected cost of one candidate with one codec at one bandwidth. */
export interface CandidateCost {
  readonly candidate: string;
  readonly codec: Codec;
  readonly tailOn: TailPlacement;
  readonly edgeMs: number;
  readonly transferMs: number;
  readonly rttMs: number;
  readonly cloudMs: number;
  readonly latencyMs: number;
  readonly edgeJoules: number;
  /** Bytes of one request (per sample, with the envelope); 0 when nothing is sent. */
  readonly payloadBytes: number;
  /** Bytes of the cloud's reply (per sample, with the envelope); 0 when nothing is sent. */
  readonly replyPayloadBytes: number;
  /** False when the request or the reply would exceed `maxPayloadBytes` (or a staged tail was never measured). */
  readonly feasible: boolean;
}

/** The best option over a bandwidth range; the agent looks this up instead of re-planning. */
export interface PlanTableRange {
  readonly objective: Objective;
  readonly minMbps: number;
  /** null means "and above". */
  readonly maxMbps: number | null;
  readonly candidate: string;
  readonly codec: Codec;
  /** Set to `edge` when the tail runs on the device; absent means the cloud. */
  readonly tailOn?: 'edge';
  /** At minMbps, the slowest point of the range. */
  readonly expectedLatencyMs: number;
  readonly expectedEdgeJoules: number;
}

/** The plan table written into a bundle. */
export interface PlanTable {
  readonly rttMs: number;
  readonly maxPayloadBytes: number;
  /** Downlink ÷ uplink bandwidth the plan assumed; absent means 1. */
  readonly downlinkRatio?: number;
  readonly objectives: readonly Objective[];
  readonly candidates: readonly string[];
  readonly ranges: readonly PlanTableRange[];
}

/**
 * Cost of a candidate/codec at `mbps`, with its tail in the cloud or (`tailOn: 'edge'`) on the device. Latency and
 * energy are both affine in 1/bandwidth.
 */
export function costAt(
  c: PlanCandidate,
  codec: Codec,
  mbps: number,
  ctx: PlanContext,
  tailOn: TailPlacement = 'cloud',
): CandidateCost {
  const power = ctx.power ?? DEFAULT_POWER_MODEL;
  if (tailOn === 'edge' && c.kind === 'split') {
    // Nothing crosses the network: the head always runs, the tail only for requests no exit answered.
    const edgeMs = c.edgeMs + (1 - (c.exitRate ?? 0)) * (c.edgeTailMs ?? 0);
    return {
      candidate: c.id,
      codec,
      tailOn,
      edgeMs,
      transferMs: 0,
      rttMs: 0,
      cloudMs: 0,
      latencyMs: edgeMs,
      edgeJoules: (power.computeWatts * edgeMs) / 1000,
      payloadBytes: 0,
      replyPayloadBytes: 0,
      feasible: c.edgeTailMs !== undefined,
    };
  }
  const sends = c.kind !== 'edge-only';
  const envelope = ctx.envelopeBytes ?? 1024;
  const payload = sends ? c.bytesPerSample[codec] + envelope : 0;
  const replyData = sends ? (c.replyBytesPerSample?.[codec] ?? 0) : 0;
  const reply = sends ? replyData + envelope : 0;
  const downlinkRatio = ctx.downlinkRatio ?? 1;
  if (!(downlinkRatio > 0) || !Number.isFinite(downlinkRatio)) {
    throw new RangeError(`"downlinkRatio" must be a finite number > 0; got ${String(ctx.downlinkRatio)}`);
  }
  // Requests answered by an early exit in the head never cross the network: expected costs scale by (1 - exitRate).
  const offload = sends ? 1 - (c.exitRate ?? 0) : 0;
  // The request goes up at `mbps`, the reply's tensors come down at `mbps × downlinkRatio`. The reply's envelope
  // counts against the payload limit but not the time, so a bundle without reply sizes costs what it always did.
  const transferMs = offload * ((payload * 8) / (mbps * 1000) + (replyData * 8) / (mbps * downlinkRatio * 1000));
  const rttMs = offload * ctx.rttMs;
  const cloudMs = offload * c.cloudMs;
  // Encoding is edge compute too: int8 quantisation of a large tensor can cost more than the bytes it saves.
  const edgeMs = c.edgeMs + offload * (c.encodeMs?.[codec] ?? 0);
  const latencyMs = edgeMs + transferMs + rttMs + cloudMs;
  const edgeJoules =
    (power.computeWatts * edgeMs + power.radioWatts * transferMs + power.idleWatts * (rttMs + cloudMs)) / 1000;
  return {
    candidate: c.id,
    codec,
    tailOn: 'cloud',
    edgeMs,
    transferMs,
    rttMs,
    cloudMs,
    latencyMs,
    edgeJoules,
    payloadBytes: payload,
    replyPayloadBytes: reply,
    feasible: !sends || (payload <= ctx.maxPayloadBytes && reply <= ctx.maxPayloadBytes),
  };
}

/**
 * Scalar objective value of a cost, as the objective's spec scores it (`balanced` normalises both terms by
 * edge-only's). Throws RangeError for an unknown objective rather than scoring it like another.
 */
export function objectiveValue(cost: CandidateCost, objective: Objective, edgeOnly: CandidateCost | undefined): number {
  return objectiveSpec(objective).score(cost, edgeOnly);
}

/** All feasible options at one bandwidth, best first under `objective`. */
export function rankCandidates(
  candidates: readonly PlanCandidate[],
  mbps: number,
  objective: Objective,
  ctx: PlanContext,
): CandidateCost[] {
  const spec = objectiveSpec(objective);
  const edgeCost = edgeOnlyCost(candidates, mbps, ctx);
  const options = candidates.flatMap((c) =>
    c.kind === 'edge-only'
      ? [costAt(c, LOSSLESS_CODEC, mbps, ctx)]
      : [
          ...ctx.codecs.map((k) => costAt(c, k, mbps, ctx)),
          // Staged on the device pays off only when exits answer some requests before the tail.
          ...(ctx.edgeTails !== false && c.kind === 'split' && (c.exitRate ?? 0) > 0 && c.edgeTailMs !== undefined
            ? [costAt(c, LOSSLESS_CODEC, mbps, ctx, 'edge')]
            : []),
        ],
  );
  return options.filter((o) => o.feasible).sort((a, b) => spec.score(a, edgeCost) - spec.score(b, edgeCost));
}

/** Edge-only's cost at `mbps` (what `balanced` normalises by), or undefined without an edge-only candidate. */
export function edgeOnlyCost(
  candidates: readonly PlanCandidate[],
  mbps: number,
  ctx: PlanContext,
): CandidateCost | undefined {
  const edge = candidates.find((c) => c.kind === 'edge-only');
  return edge ? costAt(edge, LOSSLESS_CODEC, mbps, ctx) : undefined;
}

/** A plan table row as far as lookups care; fits both the partitioner's plan and a parsed manifest's. */
export interface PlanRangeLike {
  readonly objective: Objective;
  readonly minMbps: number;
  readonly maxMbps: number | null;
}

/** The plan's choice for an objective at a measured bandwidth. */
export function lookupPlan<R extends PlanRangeLike>(
  plan: { readonly ranges: readonly R[] },
  objective: Objective,
  mbps: number,
): R | undefined {
  return plan.ranges.find(
    (r) => r.objective === objective && mbps >= r.minMbps && (r.maxMbps === null || mbps < r.maxMbps),
  );
}
