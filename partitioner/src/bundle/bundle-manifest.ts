import { type CodecBytes, parseBundleManifest, type SessionOptions, type Task } from '@cleave/proto';
import type { ExitCalibration } from '../exits/exit-calibration.js';
import type { PosthocExit } from '../exits/posthoc-exits.js';
import type { Candidate } from '../graph/candidates.js';
import type { TensorSpec } from '../onnx/onnx-model.js';
import type { Plan } from '../plan/planner.js';
import type { ModelProfile } from '../profile/profiler.js';

/** Everything the manifest records besides the file hashes and version. */
export interface ManifestInputs {
  readonly modelId: string;
  readonly modelSha256: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly finalOutput: string;
  readonly task: Task;
  /** Session options every path must use (from the path-consistency check); absent = onnxruntime's defaults. */
  readonly sessionOptions?: SessionOptions;
  /** Reply bytes per sample of each candidate, per request codec. */
  readonly replyBytes: ReadonlyMap<string, CodecBytes>;
  readonly candidates: readonly Candidate[];
  readonly paths: ReadonlyMap<string, { head: string | null; tail: string | null }>;
  /**
   * The weights file every graph reads its weights from (ONNX external data), and how many distinct tensors it
   * holds; absent when the graphs embed their weights. Each candidate then needs its graphs and this file.
   */
  readonly weights?: { readonly file: string; readonly tensors: number };
  readonly exitRates: ReadonlyMap<string, number>;
  readonly edgeProfile: ModelProfile;
  readonly cloudProfile: ModelProfile;
  readonly plan: Plan;
  readonly exits: readonly string[];
  readonly posthoc: readonly PosthocExit[];
  readonly calibration: ExitCalibration | undefined;
  readonly calibrationSource: string | undefined;
}

/** Every file a candidate needs besides the manifest: its graphs (once, in head-then-tail order), then the weights. */
function candidateFiles(paths: { head: string | null; tail: string | null }, weights: string): string[] {
  return [...new Set([paths.head, paths.tail].filter((p): p is string => p !== null)), weights];
}

/**
 * Builds `manifest.json` and checks it against the shared schema before it is written, so the
 * edge agent and the cloud service can always read what the partitioner writes.
 */
export function buildManifest(
  m: ManifestInputs,
  version: string,
  files: Record<string, { sha256: string; bytes: number }>,
): Record<string, unknown> {
  const manifest = {
    format: 'cleave.bundle/v1',
    version,
    createdAt: new Date().toISOString(),
    model: {
      id: m.modelId,
      file: 'model.onnx',
      sha256: m.modelSha256,
      inputs: m.inputs,
      outputs: m.outputs,
      final: m.finalOutput,
      task: m.task,
      ...(m.sessionOptions ? { sessionOptions: m.sessionOptions } : {}),
    },
    ...(m.weights ? { weights: { file: m.weights.file, tensors: m.weights.tensors } } : {}),
    files,
    candidates: m.candidates.map((c) => ({
      id: c.id,
      kind: c.kind,
      origin: c.origin,
      cut: c.wire.map((w) => w.name),
      head: m.paths.get(c.id)!.head,
      tail: m.paths.get(c.id)!.tail,
      ...(m.weights ? { files: candidateFiles(m.paths.get(c.id)!, m.weights.file) } : {}),
      cutTensors: c.wire,
      bytesPerSample: c.bytesPerSample,
      ...(m.replyBytes.has(c.id) ? { replyBytesPerSample: m.replyBytes.get(c.id) } : {}),
      exits: c.exits,
      exitRate: m.exitRates.get(c.id) ?? 0,
      profile: {
        ...(c.kind !== 'cloud-only' ? { edge: m.edgeProfile.candidates.find((p) => p.id === c.id)?.head } : {}),
        ...(c.kind !== 'edge-only' ? { cloud: m.cloudProfile.candidates.find((p) => p.id === c.id)?.tail } : {}),
        ...(c.kind === 'split' ? { edgeTail: m.edgeProfile.candidates.find((p) => p.id === c.id)?.tail } : {}),
        ...(c.kind !== 'edge-only' ? { encodeMs: m.edgeProfile.candidates.find((p) => p.id === c.id)?.encodeMs } : {}),
      },
    })),
    ...(m.exits.length > 0
      ? {
          exits: m.exits.map((output) => {
            const posthoc = m.posthoc.find((p) => p.output === output);
            return {
              output,
              kind: posthoc ? 'post-hoc' : 'built-in',
              attachedTo: posthoc?.attachedTo ?? null,
              candidateIds: m.candidates.filter((c) => c.exits.includes(output)).map((c) => c.id),
            };
          }),
        }
      : {}),
    ...(m.calibration
      ? {
          exitPolicy: {
            ...m.calibration,
            // What "accuracy" was measured against: the labels, or the full model's own answer (unlabelled data).
            reference: m.calibration.source,
            source: m.calibrationSource ?? 'unknown',
          },
        }
      : {}),
    plan: m.plan,
    profiles: { edge: m.edgeProfile.device, cloud: m.cloudProfile.device },
  };
  parseBundleManifest(manifest);
  return manifest;
}
