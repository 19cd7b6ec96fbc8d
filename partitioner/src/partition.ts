import { basename } from 'node:path';
import { buildManifest } from './bundle/bundle-manifest.js';
import { assertBundleTarget, writeBundle } from './bundle/bundle-writer.js';
import { shareWeights, WEIGHTS_FILE } from './bundle/shared-weights.js';
import { calibrateExits, exitRateFor, type ExitCalibration } from './exits/exit-calibration.js';
import type { ConfidenceMeasure } from './exits/confidence.js';
import type { Candidate } from './graph/candidates.js';
import { planCandidates, ProfileMismatchError } from './plan/plan-inputs.js';
import {
  type Codec,
  type CodecBytes,
  DEFAULT_PLAN_CODECS,
  OBJECTIVES,
  type Objective,
  type PowerModel,
  replyBytes,
} from '@cleave/proto';
import { buildPlan, type Plan } from './plan/planner.js';
import { prepareModel, type PrepareOptions, type PreparedModel } from './prepare-model.js';
import { sha256Hex } from '@cleave/node-runtime';
import { profileCandidates, type ModelProfile, type ProfileOptions } from './profile/profiler.js';

/** Options for {@link partitionModel}. */
export interface PartitionOptions extends PrepareOptions {
  readonly modelPath: string;
  readonly outDir: string;
  /** Model id in the manifest and on the wire. @default the file name without extension */
  readonly modelId?: string;
  /** Profile measured on the edge device; @default measured here */
  readonly edgeProfile?: ModelProfile;
  /** Profile measured on the cloud machine; @default measured here */
  readonly cloudProfile?: ModelProfile;
  readonly profile?: ProfileOptions;
  readonly rttMs?: number;
  readonly maxPayloadBytes?: number;
  /** Downlink Mbps ÷ uplink Mbps, for reply transfer times. @default 1 */
  readonly downlinkRatio?: number;
  readonly codecs?: readonly Codec[];
  /** Let the plan run tails on the edge after unconfident exits (staged execution). @default true */
  readonly edgeTails?: boolean;
  readonly objectives?: readonly Objective[];
  readonly power?: PowerModel;
  /** Accuracy the exits may cost versus the final output, in points. @default 1.0 */
  readonly accuracyBudgetPoints?: number;
  readonly confidenceMeasure?: ConfidenceMeasure | 'auto';
  readonly force?: boolean;
}

/** Per-exit outcome at the chosen operating point, for the partition report. */
export interface ExitReport {
  readonly output: string;
  readonly kind: 'built-in' | 'post-hoc';
  readonly rate: number;
  readonly accuracyOfExited: number;
  /** Share of the full model's measured node time that a sample leaving here skips. */
  readonly computeSkipped: number;
}

/** What a partition run produced. */
export interface PartitionResult {
  readonly version: string;
  readonly outDir: string;
  readonly prepared: PreparedModel;
  readonly plan: Plan;
  readonly edgeProfile: ModelProfile;
  readonly cloudProfile: ModelProfile;
  readonly calibration: ExitCalibration | undefined;
  readonly exitReport: readonly ExitReport[];
}

/** The model id a bundle gets without `modelId`: the file name without `.onnx`, other characters as `_`. */
export function defaultModelId(path: string): string {
  return basename(path)
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Share of the whole model's measured edge time that a sample leaving at `exit` skips: one minus the
 * fastest measured head that already computes the exit, over edge-only. Measured stage times are
 * used because onnxruntime renames fused nodes, so its per-node names do not map back to the graph.
 */
function computeSkipped(candidates: readonly Candidate[], profile: ModelProfile, exit: string): number {
  const edgeOnly = profile.candidates.find((c) => c.id === 'edge-only')?.head?.medianMs;
  if (!edgeOnly) return 0;
  const heads = candidates
    .filter((c) => c.kind === 'split' && c.exits.includes(exit))
    .map((c) => profile.candidates.find((p) => p.id === c.id)?.head?.medianMs ?? Infinity);
  const fastest = Math.min(...heads);
  return Number.isFinite(fastest) ? Math.max(0, 1 - fastest / edgeOnly) : 0;
}

/**
 * Reply bytes per sample of each candidate that gets a reply (all but edge-only): every final output, sized in the
 * reply codec of each request codec. Every such candidate's tail computes all final outputs, so they share one size.
 */
export function candidateReplyBytes(prepared: PreparedModel): Map<string, CodecBytes> {
  const outputs = prepared.finalOutputs.map((name) => {
    const probed = prepared.probed.get(name);
    const spec = prepared.model.outputs.find((o) => o.name === name)!;
    const elements =
      probed?.elementsPerSample ?? spec.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
    return { dtype: probed?.spec.dtype ?? spec.dtype, elementsPerSample: elements };
  });
  const bytes = replyBytes(outputs);
  return new Map(prepared.candidates.filter((c) => c.kind !== 'edge-only').map((c) => [c.id, bytes]));
}

/**
 * The whole `cleave partition` pipeline: load and validate, decide exits (built-in or post-hoc)
 * and calibrate their thresholds, find cuts, cut heads and tails, measure them, plan over
 * bandwidth, and write the bundle atomically.
 */
export async function partitionModel(options: PartitionOptions): Promise<PartitionResult> {
  await assertBundleTarget(options.outDir, options.force ?? false);
  const prepared = await prepareModel(options.modelPath, options);
  const { model, candidates, exits } = prepared;
  const modelSha256 = sha256Hex(model.bytes);
  for (const [role, p] of [
    ['edge', options.edgeProfile],
    ['cloud', options.cloudProfile],
  ] as const) {
    if (p && p.model.sha256 !== modelSha256) {
      throw new ProfileMismatchError(
        `the ${role} profile was measured on another model (or other exit heads); re-run cleave profile with the same model and --calib options`,
      );
    }
  }

  let calibration: ExitCalibration | undefined;
  if (exits.length > 0 && prepared.holdout) {
    options.onPhase?.(`calibrating exit thresholds on ${prepared.holdout.count} held-out samples`);
    const classes = model.outputs.find((o) => o.name === prepared.finalOutput)?.shape[1];
    calibration = await calibrateExits(
      model.bytes,
      model.inputs[0]!.shape,
      prepared.holdout,
      exits,
      prepared.finalOutput,
      {
        budgetPoints: options.accuracyBudgetPoints ?? 1.0,
        measure: options.confidenceMeasure ?? 'auto',
        task: prepared.task,
        ...(typeof classes === 'number' ? { classes } : {}),
      },
    );
  }

  let local: ModelProfile | undefined;
  if (!options.edgeProfile || !options.cloudProfile) {
    options.onPhase?.(`profiling ${candidates.length} candidates`);
    local = await profileCandidates(model, candidates, options.profile);
  }
  const edgeProfile = options.edgeProfile ?? local!;
  const cloudProfile = options.cloudProfile ?? local!;
  const exitRates = new Map(candidates.map((c) => [c.id, c.kind === 'split' ? exitRateFor(calibration, c.exits) : 0]));
  const replies = candidateReplyBytes(prepared);
  const plan = buildPlan(
    planCandidates(
      candidates.map((c) => ({ ...c, exitRate: exitRates.get(c.id) ?? 0, replyBytesPerSample: replies.get(c.id) })),
      edgeProfile,
      cloudProfile,
    ),
    {
      rttMs: options.rttMs ?? 20,
      maxPayloadBytes: options.maxPayloadBytes ?? 8 * 1024 * 1024,
      ...(options.downlinkRatio !== undefined ? { downlinkRatio: options.downlinkRatio } : {}),
      codecs: options.codecs ?? DEFAULT_PLAN_CODECS,
      ...(options.edgeTails === false ? { edgeTails: false } : {}),
      ...(options.power ? { power: options.power } : {}),
    },
    options.objectives ?? OBJECTIVES,
  );

  options.onPhase?.('writing bundle');
  // Only candidates the plan kept go into the bundle; dominated ones would only cost disk and transfer.
  const kept: Candidate[] = candidates.filter((c) => plan.candidates.includes(c.id));
  // Flat on purpose: onnxruntime resolves a graph's external data beside the graph and rejects '..', so every graph
  // sits beside weights.bin, which stores each weight once for all of them.
  const graphs = new Map<string, () => Uint8Array>([['model.onnx', () => model.bytes]]);
  const paths = new Map<string, { head: string | null; tail: string | null }>();
  for (const c of kept) {
    const head = c.kind === 'cloud-only' ? null : c.kind === 'edge-only' ? 'model.onnx' : `${c.id}.head.onnx`;
    const tail = c.kind === 'edge-only' ? null : c.kind === 'cloud-only' ? 'model.onnx' : `${c.id}.tail.onnx`;
    if (c.kind === 'split') {
      graphs.set(head!, c.head!);
      graphs.set(tail!, c.tail!);
    }
    paths.set(c.id, { head, tail });
  }
  const shared = shareWeights(graphs, WEIGHTS_FILE);
  const files = new Map(shared.files);
  files.set('profiles/edge.json', () => new TextEncoder().encode(JSON.stringify(edgeProfile, null, 2)));
  files.set('profiles/cloud.json', () => new TextEncoder().encode(JSON.stringify(cloudProfile, null, 2)));
  const version = await writeBundle(
    options.outDir,
    {
      files,
      manifest: (bundleVersion, fileHashes) =>
        buildManifest(
          {
            modelId: options.modelId ?? defaultModelId(options.modelPath),
            modelSha256,
            inputs: model.inputs,
            outputs: model.outputs,
            finalOutput: prepared.finalOutput,
            task: prepared.task,
            ...(prepared.sessionOptions ? { sessionOptions: prepared.sessionOptions } : {}),
            replyBytes: replies,
            candidates: kept,
            paths,
            weights: { file: WEIGHTS_FILE, tensors: shared.weights.tensors },
            exitRates,
            edgeProfile,
            cloudProfile,
            plan,
            exits,
            posthoc: prepared.posthoc,
            calibration,
            calibrationSource: options.calibration?.source,
          },
          bundleVersion,
          fileHashes,
        ),
    },
    { force: options.force ?? false },
  );
  const exitReport: ExitReport[] = (calibration?.operatingPoint.perExit ?? []).map((e) => ({
    output: e.output,
    kind: prepared.posthoc.some((p) => p.output === e.output) ? 'post-hoc' : 'built-in',
    rate: e.rate,
    accuracyOfExited: e.accuracy,
    computeSkipped: computeSkipped(candidates, edgeProfile, e.output),
  }));
  return { version, outDir: options.outDir, prepared, plan, edgeProfile, cloudProfile, calibration, exitReport };
}
