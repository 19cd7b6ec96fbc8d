/** Pure choices of the bench: the Neurosurgeon-style static split, and how many requests a slow cell gets. */
import { rankCandidates, type BundleManifest, type PlanCandidate } from '@cleave/proto';

/**
 * The best single split at `mbps` from the bundle's measured profiles, as Neurosurgeon picks it: latency objective,
 * f32 on the wire (request and reply), and only candidates whose head computes no exit (edge-only and cloud-only
 * included).
 */
export function bestStaticSplit(
  manifest: BundleManifest,
  mbps: number,
  rttMs: number,
): { candidate: string; expectedMs: number; payloadBytes: number } {
  const candidates: PlanCandidate[] = manifest.candidates
    .filter((c) => c.kind !== 'split' || (c.exits ?? []).length === 0)
    .map((c) => ({
      id: c.id,
      kind: c.kind,
      bytesPerSample: c.bytesPerSample,
      edgeMs: c.profile.edge?.medianMs ?? 0,
      cloudMs: c.profile.cloud?.medianMs ?? 0,
      exitRate: 0,
      // The reply brings back every final output, so a split that sends little can still wait for a big reply.
      ...(c.replyBytesPerSample === undefined ? {} : { replyBytesPerSample: c.replyBytesPerSample }),
    }));
  const best = rankCandidates(candidates, mbps, 'latency', {
    rttMs,
    maxPayloadBytes: manifest.plan.maxPayloadBytes,
    codecs: ['f32'],
    ...(manifest.plan.downlinkRatio === undefined ? {} : { downlinkRatio: manifest.plan.downlinkRatio }),
  })[0];
  if (best === undefined) throw new Error(`no feasible static split for ${manifest.model.id} at ${mbps} Mbps`);
  return { candidate: best.candidate, expectedMs: best.latencyMs, payloadBytes: best.payloadBytes };
}

/** Requests for a cell: `wanted`, cut so the cell takes about `budgetMs`, but never fewer than `min`. */
export function requestsForCell(wanted: number, expectedMs: number, budgetMs: number, min: number): number {
  if (!(expectedMs > 0)) return wanted;
  return Math.max(Math.min(wanted, min), Math.min(wanted, Math.floor(budgetMs / expectedMs)));
}

/** Expected ms of one request that moves `bytes` over a link of `mbps` with `rttMs`, plus `computeMs`. */
export function expectedTransferMs(bytes: number, mbps: number, rttMs: number, computeMs = 0): number {
  return rttMs + (bytes * 8) / (mbps * 1000) + computeMs;
}
