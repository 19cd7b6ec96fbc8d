import {
  answerSize,
  assertExitsEvaluable,
  type BundleManifest,
  type ExitConfidenceMeasure,
  ExitEvaluationError,
  ExitEvaluationErrorCode,
  type ExitLayout,
  exitLayout,
  sampleConfidence,
  sampleLogitsAt,
  type Task,
  type TensorSpec,
} from '@cleave/proto';
import type { AgentTensor } from './tensor-io.js';

/** The exits a head computes, in order, with their outputs for one request. */
export interface ExitOutputs {
  readonly names: readonly string[];
  readonly tensors: ReadonlyMap<string, AgentTensor>;
}

/** An early answer for a whole request. */
export interface EarlyAnswer {
  /** The deepest exit any sample left at (for a batch of one, the exit it left at). */
  readonly exit: string;
  /** Per sample, the exit it left at. */
  readonly perSample: readonly string[];
  /** The chosen exits' outputs, stacked like the final output: [N, classes], or [N, classes, H, W] for segmentation. */
  readonly logits: Float32Array;
  readonly dims: number[];
}

/** How exit outputs are read: the bundle's task, and the final output's shape (the size of segmentation answers). */
export interface ExitDecisionOptions {
  /** @default 'classification' (bundles written before tasks existed were all classifiers) */
  readonly task?: Task;
  /** The final output's shape from the manifest; segmentation answers are resampled to its H × W when fixed. */
  readonly finalShape?: readonly (number | string | null)[];
}

/**
 * Applies the operating point with proto's exit evaluator (the one calibration used): each sample leaves at the
 * first exit (in order) whose confidence reaches its threshold. The request is answered early only when every
 * sample of it leaves somewhere; a batch with one hard sample goes on whole, which keeps a request's answers from
 * one source. Exits without a threshold (null) never answer. An exit with a threshold whose output cannot be read
 * under the task (missing, not float32, wrong rank, other classes) throws {@link ExitEvaluationError}: bundles
 * with such exits are refused at load ({@link assertBundleExitsEvaluable}), so this is a model breaking its own
 * declared shapes, never something to skip silently.
 */
export function decideEarlyExit(
  exits: ExitOutputs,
  thresholds: Readonly<Record<string, number | null>>,
  measure: ExitConfidenceMeasure,
  options: ExitDecisionOptions = {},
): EarlyAnswer | undefined {
  const task = options.task ?? 'classification';
  const usable: { name: string; data: Float32Array; layout: ExitLayout; threshold: number }[] = [];
  for (const name of exits.names) {
    const threshold = thresholds[name];
    if (typeof threshold !== 'number') continue;
    const tensor = exits.tensors.get(name);
    if (tensor === undefined || tensor.dtype !== 'float32') {
      throw new ExitEvaluationError(
        ExitEvaluationErrorCode.Unevaluable,
        tensor === undefined
          ? `exit '${name}' has a threshold but the head did not return it`
          : `exit '${name}' is ${tensor.dtype}; exits must be float32`,
      );
    }
    usable.push({ name, data: tensor.data, layout: exitLayout(task, tensor.dims, `exit '${name}'`), threshold });
  }
  if (usable.length === 0) return undefined;
  const first = usable[0]!.layout;
  const mismatch = usable.find((e) => e.layout.samples !== first.samples || e.layout.classes !== first.classes);
  if (mismatch !== undefined) {
    throw new ExitEvaluationError(
      ExitEvaluationErrorCode.Mismatch,
      `exit '${mismatch.name}' has ${mismatch.layout.samples} samples of ${mismatch.layout.classes} classes, but '${usable[0]!.name}' has ${first.samples} of ${first.classes}`,
    );
  }
  const samples = first.samples;
  if (samples === 0) return undefined;
  const size = answerSize(first, options.finalShape);
  const perAnswer = first.classes * size.height * size.width;
  const logits = new Float32Array(samples * perAnswer);
  const scratch = new Float64Array(first.classes);
  const perSample: string[] = [];
  let deepest = 0;
  for (let i = 0; i < samples; i++) {
    const k = usable.findIndex((e) => sampleConfidence(e.layout, e.data, i, measure, scratch) >= e.threshold);
    if (k < 0) return undefined;
    deepest = Math.max(deepest, k);
    const chosen = usable[k]!;
    perSample.push(chosen.name);
    sampleLogitsAt(chosen.layout, chosen.data, i, size, logits, i * perAnswer);
  }
  const dims = task === 'segmentation' ? [samples, first.classes, size.height, size.width] : [samples, first.classes];
  return { exit: usable[deepest]!.name, perSample, logits, dims };
}

/** The final output early answers stand in for: `model.final`, else the first output that is not an exit. */
export function primaryFinalSpec(manifest: BundleManifest): TensorSpec | undefined {
  const exits = new Set((manifest.exits ?? []).map((e) => e.output));
  const outputs = manifest.model.outputs;
  return manifest.model.final !== undefined
    ? outputs.find((o) => o.name === manifest.model.final)
    : outputs.find((o) => !exits.has(o.name));
}

/**
 * Refuses a bundle whose exits the agent could not evaluate under its task (`model.task`, classification when
 * absent): call it when a bundle is loaded, before serving it. Throws {@link ExitEvaluationError} (code
 * `unevaluable_exit` or `exit_shape_mismatch`) naming the bundle and every problem, on one line.
 */
export function assertBundleExitsEvaluable(manifest: BundleManifest): void {
  const exits = manifest.exits ?? [];
  if (exits.length === 0) return;
  const source = `bundle ${manifest.model.id} ${manifest.version}`;
  const final = primaryFinalSpec(manifest);
  const specs = exits.map((e) => manifest.model.outputs.find((o) => o.name === e.output));
  const missing = exits.find((_, i) => specs[i] === undefined);
  if (final === undefined || missing !== undefined) {
    throw new ExitEvaluationError(
      ExitEvaluationErrorCode.Unevaluable,
      `${source}: ${final === undefined ? 'has no final output besides its exits' : `exit '${missing!.output}' is not a model output`}`,
    );
  }
  assertExitsEvaluable(manifest.model.task ?? 'classification', specs as TensorSpec[], final, source);
}
