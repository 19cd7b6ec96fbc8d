import type { CalibrationData } from './datasets/calibration-data.js';
import type { LabelledImages } from './datasets/labelled-images.js';
import { type CalibrationInput, resolveCalibrationData } from './datasets/load-calibration.js';
import { sliceImages } from './exits/collect-logits.js';
import { ExitError, ExitErrorCode } from './exits/exit-errors.js';
import { attachPosthocExits, type PosthocExit } from './exits/posthoc-exits.js';
import { buildCandidates, type Candidate } from './graph/candidates.js';
import { indexGraph, type GraphIndex } from './graph/graph-index.js';
import { probeTensorShapes, type ProbedTensor } from './graph/shape-probe.js';
import { OnnxModelError, OnnxModelErrorCode } from './onnx/onnx-errors.js';
import { loadOnnxModel, parseOnnxModel, type OnnxModel } from './onnx/onnx-model.js';
import { assertExitsEvaluable, type SessionOptions, type Task } from '@cleave/proto';
import { checkPathConsistency, type PathConsistency } from './consistency/path-consistency.js';
import { assertInputShapesFixed, fixInputShapes, parseInputShapeFlags } from './onnx/input-shapes.js';
import { assertTaskAllowsExits, chooseTask } from './task/model-task.js';

/**
 * A calibration set, labelled or not: heads train on its first samples, thresholds use its last ones. A
 * {@link CalibrationInput} source (folder, .npy/.npz, IDX) is read once the model's input shape is known.
 */
export interface CalibrationSet {
  readonly data: CalibrationInput;
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
  /** `--input-shape` entries (`NAME=3x640x640`): the non-batch dims of inputs whose dims are symbolic. */
  readonly inputShapes?: readonly string[];
  /** Skip the path-consistency check (tests that only look at the graph). @default false */
  readonly skipConsistencyCheck?: boolean;
  /** What the outputs mean. @default inferred from the outputs ({@link chooseTask}) */
  readonly task?: Task;
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
  /** The primary final output: the one early exits stand in for. */
  readonly finalOutput: string;
  /** Every output that is not an exit, in model order; all of them come back on every path. */
  readonly finalOutputs: readonly string[];
  readonly task: Task;
  /** Session options at which every path gives the full model's answer (absent: onnxruntime's defaults do). */
  readonly sessionOptions?: SessionOptions;
  /** What the path-consistency check measured at each optimization level it tried. */
  readonly consistency?: PathConsistency;
  readonly candidates: readonly Candidate[];
  /** Calibration split into head-training and hold-out parts, when given. */
  readonly holdout?: CalibrationData | LabelledImages;
}

/** Outputs that follow the `exit*` naming convention, if at least one other output remains. */
export function detectExitOutputs(model: OnnxModel): string[] {
  const exits = model.outputs.map((o) => o.name).filter((n) => /^exit/i.test(n));
  return exits.length < model.outputs.length ? exits : [];
}

type LoadedSet = Omit<CalibrationSet, 'data'> & { readonly data: CalibrationData | LabelledImages };
type Loaded = CalibrationData | LabelledImages;

/** Splits a calibration set into non-overlapping train (start) and hold-out (end) parts. */
export function splitCalibration(set: LoadedSet): { train: Loaded; holdout: Loaded } {
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
  let model = fixInputShapes(await loadOnnxModel(modelPath), parseInputShapeFlags(options.inputShapes ?? []));
  assertInputShapesFixed(model);
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
  const finals = model.outputs.filter((o) => !exits.includes(o.name));
  const finalOutput = finals[0]?.name;
  if (finalOutput === undefined) {
    throw new ExitError(
      ExitErrorCode.NotClassifier,
      `${modelPath}: every output is an exit; one must be the final answer`,
    );
  }
  const task = chooseTask(modelPath, model.inputs, finals, options.task);
  assertTaskAllowsExits(modelPath, task, exits, finals);
  assertExitsEvaluable(
    task,
    exits.map((e) => model.outputs.find((o) => o.name === e)!),
    finals[0]!,
    modelPath,
  );
  const classes = finals[0]!.shape[1];
  const parts = options.calibration
    ? splitCalibration({
        ...options.calibration,
        data: await resolveCalibrationData(options.calibration.data, {
          inputSpec: model.inputs[0]!,
          ...(typeof classes === 'number' ? { classes } : {}),
          seed: options.seed ?? 1,
        }),
      })
    : undefined;
  let posthoc: PosthocExit[] = [];
  // Post-hoc heads are per-sample classifiers: they stand in only for class logits.
  if (exits.length === 0 && parts && task === 'classification' && (options.posthocExits ?? 3) > 0) {
    options.onPhase?.(`training post-hoc exit heads on ${parts.train.count} samples`);
    const attached = await attachPosthocExits(model, index, probed, parts.train, {
      count: options.posthocExits ?? 3,
      seed: options.seed ?? 1,
      finalOutput,
      task,
    });
    posthoc = attached.exits;
    model = parseOnnxModel(attached.bytes, `${modelPath} (with post-hoc exits)`);
    index = indexGraph(model);
    probed = await probeTensorShapes(index);
    exits = posthoc.map((p) => p.output);
  }
  const candidates = buildCandidates(index, probed, { exitOutputs: exits });
  let consistency: PathConsistency | undefined;
  if (!options.skipConsistencyCheck) {
    options.onPhase?.(`checking that ${candidates.length} candidates give the full model's answer`);
    consistency = await checkPathConsistency(model, candidates);
    if (!consistency.consistent) {
      const worst = consistency.checks.at(-1)!;
      throw new OnnxModelError(
        OnnxModelErrorCode.Inconsistent,
        `${modelPath}: split '${worst.worst?.candidate}' differs from the full model on '${worst.worst?.output}' by ${worst.worstError.toExponential(2)} relative even with graph optimizations disabled`,
      );
    }
  }
  return {
    model,
    index,
    probed,
    exits,
    posthoc,
    finalOutput,
    finalOutputs: finals.map((f) => f.name),
    task,
    ...(consistency && consistency.level !== 'all'
      ? { sessionOptions: { graphOptimizationLevel: consistency.level } }
      : {}),
    ...(consistency ? { consistency } : {}),
    candidates,
    ...(parts ? { holdout: parts.holdout } : {}),
  };
}
