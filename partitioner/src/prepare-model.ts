import type { LabelledImages } from './datasets/labelled-images.js';
import { sliceImages } from './exits/collect-logits.js';
import { ExitError, ExitErrorCode } from './exits/exit-errors.js';
import { attachPosthocExits, type PosthocExit } from './exits/posthoc-exits.js';
import { buildCandidates, type Candidate } from './graph/candidates.js';
import { indexGraph, type GraphIndex } from './graph/graph-index.js';
import { probeTensorShapes, type ProbedTensor } from './graph/shape-probe.js';
import { loadOnnxModel, parseOnnxModel, type OnnxModel } from './onnx/onnx-model.js';

/** A labelled calibration set: heads train on its first samples, thresholds use its last ones. */
export interface CalibrationSet {
  readonly data: LabelledImages;
  /** Where it came from, for the manifest. */
  readonly source: string;
  /** Samples from the start used to train post-hoc exit heads. @default 20000 */
  readonly trainSamples?: number;
  /** Samples from the end used to choose thresholds; never used for training. @default 5000 */
  readonly holdoutSamples?: number;
}

/** Options for {@link prepareModel}. */
export interface PrepareOptions {
  /** Outputs that are early exits. @default outputs named `exit*` (the naming convention) */
  readonly exitOutputs?: readonly string[];
  /** Enables post-hoc exits for models without built-in ones, and threshold calibration. */
  readonly calibration?: CalibrationSet;
  /** Post-hoc exit heads to attach when the model has no exits (0 disables). @default 3 */
  readonly posthocExits?: number;
  readonly seed?: number;
  readonly onPhase?: (phase: string) => void;
}

/** A model ready to split: its graph, exits, and every candidate. */
export interface PreparedModel {
  readonly model: OnnxModel;
  readonly index: GraphIndex;
  readonly probed: ReadonlyMap<string, ProbedTensor>;
  /** Exit outputs in model order; empty when the model has none. */
  readonly exits: readonly string[];
  /** Exit heads Cleave trained (empty for built-in exits). */
  readonly posthoc: readonly PosthocExit[];
  /** The output that is the model's final answer. */
  readonly finalOutput: string;
  readonly candidates: readonly Candidate[];
  /** Calibration split into head-training and hold-out parts, when given. */
  readonly holdout?: LabelledImages;
}

/** Outputs that follow the `exit*` naming convention, if at least one other output remains. */
export function detectExitOutputs(model: OnnxModel): string[] {
  const exits = model.outputs.map((o) => o.name).filter((n) => /^exit/i.test(n));
  return exits.length < model.outputs.length ? exits : [];
}

/** Splits a calibration set into non-overlapping train (start) and hold-out (end) parts. */
export function splitCalibration(set: CalibrationSet): { train: LabelledImages; holdout: LabelledImages } {
  const count = set.data.count;
  if (count === 0) throw new ExitError(ExitErrorCode.EmptyCalibration, `${set.source}: the calibration set is empty`);
  const holdout = Math.min(set.holdoutSamples ?? 5000, Math.max(1, Math.floor(count / 2)));
  const train = Math.min(set.trainSamples ?? 20_000, count - holdout);
  return { train: sliceImages(set.data, 0, train), holdout: sliceImages(set.data, count - holdout, count) };
}

/**
 * Loads and validates a model, decides its exits (built-in, or post-hoc heads trained on the
 * calibration set), and builds every split candidate. Deterministic for the same inputs, so the
 * edge and cloud machines profile identical candidates.
 */
export async function prepareModel(modelPath: string, options: PrepareOptions = {}): Promise<PreparedModel> {
  options.onPhase?.('analysing graph');
  let model = await loadOnnxModel(modelPath);
  let index = indexGraph(model);
  let probed = await probeTensorShapes(index);
  const outputs = model.outputs.map((o) => o.name);
  const unknown = (options.exitOutputs ?? []).find((e) => !outputs.includes(e));
  if (unknown !== undefined) {
    throw new ExitError(
      ExitErrorCode.UnknownOutput,
      `${modelPath}: no output '${unknown}' (outputs: ${outputs.join(', ')})`,
    );
  }
  let exits = options.exitOutputs ?? detectExitOutputs(model);
  const finalOutput = outputs.find((o) => !exits.includes(o));
  if (finalOutput === undefined) {
    throw new ExitError(
      ExitErrorCode.NotClassifier,
      `${modelPath}: every output is an exit; one must be the final answer`,
    );
  }
  for (const e of exits) {
    const spec = model.outputs.find((o) => o.name === e)!;
    const final = model.outputs.find((o) => o.name === finalOutput)!;
    if (spec.shape.length !== 2 || spec.dtype !== 'float32' || spec.shape[1] !== final.shape[1]) {
      throw new ExitError(
        ExitErrorCode.NotClassifier,
        `${modelPath}: output '${e}' is not a classifier like '${finalOutput}': it is ${spec.dtype} [${spec.shape.join(', ')}], expected float32 [N, ${String(final.shape[1])}]`,
      );
    }
  }
  const parts = options.calibration ? splitCalibration(options.calibration) : undefined;
  let posthoc: PosthocExit[] = [];
  if (exits.length === 0 && parts && (options.posthocExits ?? 3) > 0) {
    options.onPhase?.(`training post-hoc exit heads on ${parts.train.count} samples`);
    const attached = await attachPosthocExits(model, index, probed, parts.train, {
      count: options.posthocExits ?? 3,
      seed: options.seed ?? 1,
    });
    posthoc = attached.exits;
    model = parseOnnxModel(attached.bytes, `${modelPath} (with post-hoc exits)`);
    index = indexGraph(model);
    probed = await probeTensorShapes(index);
    exits = posthoc.map((p) => p.output);
  }
  return {
    model,
    index,
    probed,
    exits,
    posthoc,
    finalOutput,
    candidates: buildCandidates(index, probed, { exitOutputs: exits }),
    ...(parts ? { holdout: parts.holdout } : {}),
  };
}
