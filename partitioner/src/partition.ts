import { basename } from 'node:path';
import { parseBundleManifest } from '@cleave/proto';
import { buildCandidates, type Candidate, type WireCodec } from './graph/candidates.js';
import { indexGraph } from './graph/graph-index.js';
import { probeTensorShapes } from './graph/shape-probe.js';
import { assertBundleTarget, writeBundle } from './bundle/bundle-writer.js';
import { loadOnnxModel, type OnnxModel } from './onnx/onnx-model.js';
import { planCandidates } from './plan/plan-inputs.js';
import { buildPlan, OBJECTIVES, type Objective, type Plan } from './plan/planner.js';
import type { PowerModel } from './plan/power-model.js';
import { profileCandidates, sha256Hex, type ModelProfile, type ProfileOptions } from './profile/profiler.js';

/** Options for {@link partitionModel}. */
export interface PartitionOptions {
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
  readonly codecs?: readonly WireCodec[];
  readonly objectives?: readonly Objective[];
  readonly power?: PowerModel;
  /** Model outputs that are early exits: computed by heads, not tails. @default none */
  readonly exitOutputs?: readonly string[];
  readonly force?: boolean;
  /** Reports coarse phases, and per-stage profiling progress. */
  readonly onPhase?: (phase: string) => void;
}

/** What a partition run produced. */
export interface PartitionResult {
  readonly version: string;
  readonly outDir: string;
  readonly candidates: readonly Candidate[];
  readonly plan: Plan;
  readonly edgeProfile: ModelProfile;
  readonly cloudProfile: ModelProfile;
}

/** Analyses a model and builds its candidates (no profiling). */
export async function analyseModel(
  modelPath: string,
  exitOutputs: readonly string[] = [],
): Promise<{ model: OnnxModel; candidates: Candidate[] }> {
  const model = await loadOnnxModel(modelPath);
  const index = indexGraph(model);
  const probed = await probeTensorShapes(index);
  return { model, candidates: buildCandidates(index, probed, { headOutputs: exitOutputs }) };
}

function modelIdFrom(path: string): string {
  return basename(path)
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * The whole `cleave partition` pipeline: load and validate, find cuts, cut heads and tails,
 * measure them, plan over bandwidth, and write the bundle atomically.
 */
export async function partitionModel(options: PartitionOptions): Promise<PartitionResult> {
  await assertBundleTarget(options.outDir, options.force ?? false);
  options.onPhase?.('analysing graph');
  const exits = options.exitOutputs ?? [];
  const { model, candidates } = await analyseModel(options.modelPath, exits);
  let local: ModelProfile | undefined;
  if (!options.edgeProfile || !options.cloudProfile) {
    options.onPhase?.(`profiling ${candidates.length} candidates`);
    local = await profileCandidates(model, candidates, options.profile);
  }
  const edgeProfile = options.edgeProfile ?? local!;
  const cloudProfile = options.cloudProfile ?? local!;
  const codecs = options.codecs ?? ['f32', 'f16'];
  const plan = buildPlan(
    planCandidates(candidates, edgeProfile, cloudProfile),
    {
      rttMs: options.rttMs ?? 20,
      maxPayloadBytes: options.maxPayloadBytes ?? 8 * 1024 * 1024,
      codecs,
      ...(options.power ? { power: options.power } : {}),
    },
    options.objectives ?? OBJECTIVES,
  );

  options.onPhase?.('writing bundle');
  // Only candidates the plan kept go into the bundle; dominated ones would only cost disk and transfer.
  const kept = candidates.filter((c) => plan.candidates.includes(c.id));
  const files = new Map<string, () => Uint8Array>([['model.onnx', () => model.bytes]]);
  const paths = new Map<string, { head: string | null; tail: string | null }>();
  for (const c of kept) {
    const head =
      c.kind === 'cloud-only' ? null : c.kind === 'edge-only' ? 'model.onnx' : `candidates/${c.id}/head.onnx`;
    const tail =
      c.kind === 'edge-only' ? null : c.kind === 'cloud-only' ? 'model.onnx' : `candidates/${c.id}/tail.onnx`;
    if (c.kind === 'split') {
      files.set(head!, c.head!);
      files.set(tail!, c.tail!);
    }
    paths.set(c.id, { head, tail });
  }
  files.set('profiles/edge.json', () => new TextEncoder().encode(JSON.stringify(edgeProfile, null, 2)));
  files.set('profiles/cloud.json', () => new TextEncoder().encode(JSON.stringify(cloudProfile, null, 2)));
  const modelId = options.modelId ?? modelIdFrom(options.modelPath);
  const version = await writeBundle(
    options.outDir,
    {
      files,
      // Validated against the shared schema before it is written, so edge and cloud can always read it.
      manifest: (bundleVersion, fileHashes) =>
        validatedManifest({
          format: 'cleave.bundle/v1',
          version: bundleVersion,
          createdAt: new Date().toISOString(),
          model: {
            id: modelId,
            file: 'model.onnx',
            sha256: sha256Hex(model.bytes),
            inputs: model.inputs,
            outputs: model.outputs,
          },
          files: fileHashes,
          candidates: kept.map((c) => ({
            id: c.id,
            kind: c.kind,
            origin: c.origin,
            cut: c.wire.map((w) => w.name),
            head: paths.get(c.id)!.head,
            tail: paths.get(c.id)!.tail,
            cutTensors: c.wire,
            bytesPerSample: c.bytesPerSample,
            profile: {
              ...(c.kind !== 'cloud-only' ? { edge: edgeProfile.candidates.find((p) => p.id === c.id)?.head } : {}),
              ...(c.kind !== 'edge-only' ? { cloud: cloudProfile.candidates.find((p) => p.id === c.id)?.tail } : {}),
            },
          })),
          ...(exits.length > 0 ? { exits: exits.map((output) => ({ output })) } : {}),
          plan,
          profiles: { edge: edgeProfile.device, cloud: cloudProfile.device },
        }),
    },
    { force: options.force ?? false },
  );
  return { version, outDir: options.outDir, candidates, plan, edgeProfile, cloudProfile };
}

/** Checks a manifest against the shared schema and returns it unchanged (unknown fields kept). */
function validatedManifest<T>(manifest: T): T {
  parseBundleManifest(manifest);
  return manifest;
}
