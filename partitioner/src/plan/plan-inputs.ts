import type { Candidate } from '../graph/candidates.js';
import type { ModelProfile } from '../profile/profiler.js';
import { CodedError, type PerCodec, type PlanCandidate } from '@cleave/proto';
import { ProfileErrorCode } from '../profile/profile-file.js';

/** Raised when an edge or cloud profile does not describe the candidates being planned. */
export class ProfileMismatchError extends CodedError<typeof ProfileErrorCode.Mismatch> {
  override readonly name = 'ProfileMismatchError';
  constructor(message: string, options?: ErrorOptions) {
    super(ProfileErrorCode.Mismatch, message, options);
  }
}

/** What {@link planCandidates} reads of a candidate. */
export type PlanInputCandidate = Pick<Candidate, 'id' | 'kind' | 'bytesPerSample' | 'wire'> & {
  readonly exitRate?: number;
  /** Reply bytes per sample per request codec (proto's `replyBytes` of the final outputs); absent = 0. */
  readonly replyBytesPerSample?: PerCodec<number> | undefined;
};

/**
 * Combines candidate payload sizes with head times from the edge profile and tail times from the
 * cloud profile. Profiles are matched by candidate id and checked by wire tensor names and model hash.
 */
export function planCandidates(
  candidates: readonly PlanInputCandidate[],
  edge: ModelProfile,
  cloud: ModelProfile,
): PlanCandidate[] {
  if (edge.model.sha256 !== cloud.model.sha256) {
    throw new ProfileMismatchError(
      `edge profile (${edge.model.file}) and cloud profile (${cloud.model.file}) were measured on different models`,
    );
  }
  return candidates.map((c) => {
    const e = edge.candidates.find((x) => x.id === c.id);
    const k = cloud.candidates.find((x) => x.id === c.id);
    const wire = c.wire.map((w) => w.name).join(',');
    for (const [role, p] of [
      ['edge', e],
      ['cloud', k],
    ] as const) {
      if (p === undefined || p.wire.join(',') !== wire) {
        throw new ProfileMismatchError(
          `the ${role} profile has no matching candidate '${c.id}' (cut [${wire}]); re-run cleave profile with the same model and options`,
        );
      }
    }
    return {
      id: c.id,
      kind: c.kind,
      bytesPerSample: c.bytesPerSample,
      // Edge-only sends nothing and gets nothing back.
      ...(c.kind !== 'edge-only' && c.replyBytesPerSample !== undefined
        ? { replyBytesPerSample: c.replyBytesPerSample }
        : {}),
      edgeMs: c.kind === 'cloud-only' ? 0 : (e?.head?.medianMs ?? 0),
      cloudMs: c.kind === 'edge-only' ? 0 : (k?.tail?.medianMs ?? 0),
      exitRate: c.exitRate ?? 0,
      ...(c.kind === 'split' && e?.tail?.medianMs !== undefined ? { edgeTailMs: e.tail.medianMs } : {}),
      // Encoding runs on the edge, so its time comes from the edge profile.
      ...(c.kind !== 'edge-only' && e?.encodeMs !== undefined ? { encodeMs: e.encodeMs } : {}),
    };
  });
}
