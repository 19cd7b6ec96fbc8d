// How an early exit's output is read, per task: the one definition of confidence and of "the exit agrees" that the
// partitioner calibrates thresholds with and the edge agent applies them with.
//
// - classification: an exit is float32 [N, K]; a sample's confidence is the measure (exit-confidence.ts) of its
//   row's softmax, and its answer is the row's argmax.
// - segmentation: an exit is float32 [N, K, h, w] of per-pixel class logits; a sample's confidence is the MEAN over
//   its pixels of the per-pixel measure (for max-prob: the mean per-pixel top probability), and its answer is the
//   per-pixel argmax. An exit may have another resolution than the final output: it is compared with the final
//   output (or a label map) after nearest-neighbour resampling to the reference's size, and an early answer is
//   resampled the same way to the final output's size. That needs the final output's H and W to be fixed numbers
//   unless the exit has exactly the final's (symbolic) size; `exitEvaluationProblems` checks that statically.
//
// Any other task has no defined confidence: its exits are refused, at partition time and at bundle load.
import { CodedError } from './coded-error.js';
import { argmaxRow, type ExitConfidenceMeasure, stridedConfidence } from './exit-confidence.js';
import { type Task, TASKS_WITH_CONFIDENCE, taskHasConfidence } from './tasks.js';

/** Why an exit output cannot be evaluated. */
export const ExitEvaluationErrorCode = {
  /** The task defines no confidence, or an output's dtype or rank does not fit the task. */
  Unevaluable: 'unevaluable_exit',
  /** Exit and final outputs disagree on their classes, or on a size that cannot be resampled. */
  Mismatch: 'exit_shape_mismatch',
} as const;
/** One of {@link ExitEvaluationErrorCode}. */
export type ExitEvaluationErrorCode = (typeof ExitEvaluationErrorCode)[keyof typeof ExitEvaluationErrorCode];

/** An exit that cannot be evaluated under its model's task. The message names the outputs. */
export class ExitEvaluationError extends CodedError<ExitEvaluationErrorCode> {
  override readonly name = 'ExitEvaluationError';
}

/** Tasks whose exits this module evaluates (proto's TASKS_WITH_CONFIDENCE). */
export type EvaluableTask = 'classification' | 'segmentation';

/** A float tensor as the evaluator reads it: dims and row-major (NCHW) values. */
export interface ExitTensor {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

/** How an output is read: per sample, `classes` scores at each of height × width positions (1 × 1 for classifiers). */
export interface ExitLayout {
  readonly task: EvaluableTask;
  readonly samples: number;
  readonly classes: number;
  readonly height: number;
  readonly width: number;
}

/** A map size (height × width) answers and references are compared at. */
export interface MapSize {
  readonly height: number;
  readonly width: number;
}

/** Name, dtype and (possibly symbolic) shape of an output, as in the ONNX model and the bundle manifest. */
export interface ExitSpecLike {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string | null)[];
}

const RANK: Record<EvaluableTask, number> = { classification: 2, segmentation: 4 };
const SHAPE_TEXT: Record<EvaluableTask, string> = {
  classification: '[N, classes]',
  segmentation: '[N, classes, H, W]',
};

function evaluable(task: Task): task is EvaluableTask {
  return taskHasConfidence(task) && task in RANK;
}

function noConfidence(task: Task): string {
  return `a ${task} model's outputs have no defined confidence, so its exits cannot be evaluated (exits need task ${TASKS_WITH_CONFIDENCE.join(' or ')})`;
}

/** Reads the dims of a concrete exit tensor under a task; throws {@link ExitEvaluationError} when they do not fit. */
export function exitLayout(task: Task, dims: readonly number[], name = 'the exit output'): ExitLayout {
  if (!evaluable(task)) throw new ExitEvaluationError(ExitEvaluationErrorCode.Unevaluable, noConfidence(task));
  if (dims.length !== RANK[task] || (dims[1] ?? 0) < 1) {
    throw new ExitEvaluationError(
      ExitEvaluationErrorCode.Unevaluable,
      `${name} is [${dims.join(', ')}], but a ${task} exit must be ${SHAPE_TEXT[task]}`,
    );
  }
  return {
    task,
    samples: dims[0]!,
    classes: dims[1]!,
    height: task === 'segmentation' ? dims[2]! : 1,
    width: task === 'segmentation' ? dims[3]! : 1,
  };
}

/** The layout's own map size (1 × 1 for classifiers). */
export function layoutSize(layout: ExitLayout): MapSize {
  return { height: layout.height, width: layout.width };
}

/** Nearest-neighbour source index of destination index `dst` (PyTorch's `nearest`: floor(dst · src / dstSize)). */
export function nearestIndex(dst: number, dstSize: number, srcSize: number): number {
  return Math.min(srcSize - 1, Math.floor((dst * srcSize) / dstSize));
}

/**
 * Confidence of one sample: the measure of its softmax row (classification, exactly `exitConfidence`), or the mean
 * of the per-pixel measure over its map (segmentation). `scratch` (at least `classes` values) saves allocations.
 */
export function sampleConfidence(
  layout: ExitLayout,
  data: ArrayLike<number>,
  sample: number,
  measure: ExitConfidenceMeasure,
  scratch: Float64Array = new Float64Array(layout.classes),
): number {
  const plane = layout.height * layout.width;
  const base = sample * layout.classes * plane;
  if (plane === 1) return stridedConfidence(data, base, layout.classes, 1, measure, scratch);
  let sum = 0;
  for (let p = 0; p < plane; p++) sum += stridedConfidence(data, base + p, layout.classes, plane, measure, scratch);
  return sum / plane;
}

/**
 * The sample's answer as a class map of `size` (nearest-neighbour from the layout's size; 1 × 1 for classifiers:
 * the row's argmax), written into `out` (allocated when absent).
 */
export function sampleClassMap(
  layout: ExitLayout,
  data: ArrayLike<number>,
  sample: number,
  size: MapSize = layoutSize(layout),
  out: Int32Array = new Int32Array(size.height * size.width),
): Int32Array {
  const plane = layout.height * layout.width;
  const base = sample * layout.classes * plane;
  for (let y = 0; y < size.height; y++) {
    const row = nearestIndex(y, size.height, layout.height) * layout.width;
    for (let x = 0; x < size.width; x++) {
      out[y * size.width + x] = argmaxRow(
        data,
        base + row + nearestIndex(x, size.width, layout.width),
        layout.classes,
        plane,
      );
    }
  }
  return out;
}

/**
 * Fraction of positions where the sample's answer (resampled to `size`) equals `reference[refOffset + p]`, a class
 * map of `size` (one class for classifiers: 1 or 0). Reference values outside [0, classes) are ignored (e.g. the
 * 255 "void" label of segmentation data sets); a sample with nothing but ignored positions scores 1.
 */
export function sampleAgreement(
  layout: ExitLayout,
  data: ArrayLike<number>,
  sample: number,
  reference: ArrayLike<number>,
  refOffset: number,
  size: MapSize = layoutSize(layout),
  scratch?: Int32Array,
): number {
  const map = sampleClassMap(layout, data, sample, size, scratch);
  let counted = 0;
  let same = 0;
  for (let p = 0; p < map.length; p++) {
    const want = reference[refOffset + p]!;
    if (want < 0 || want >= layout.classes) continue;
    counted++;
    if (map[p] === want) same++;
  }
  return counted === 0 ? 1 : same / counted;
}

/** Copies one sample's logits, resampled (nearest) to `size`, into `out` at `outOffset` (classes × H × W values). */
export function sampleLogitsAt(
  layout: ExitLayout,
  data: ArrayLike<number>,
  sample: number,
  size: MapSize,
  out: Float32Array,
  outOffset: number,
): void {
  const plane = layout.height * layout.width;
  const base = sample * layout.classes * plane;
  const outPlane = size.height * size.width;
  for (let c = 0; c < layout.classes; c++) {
    for (let y = 0; y < size.height; y++) {
      const row = base + c * plane + nearestIndex(y, size.height, layout.height) * layout.width;
      const to = outOffset + c * outPlane + y * size.width;
      for (let x = 0; x < size.width; x++) out[to + x] = data[row + nearestIndex(x, size.width, layout.width)]!;
    }
  }
}

function sameDim(a: number | string | null | undefined, b: number | string | null | undefined): boolean {
  return a !== null && a !== undefined && a === b;
}

function describe(spec: ExitSpecLike): string {
  return `'${spec.name}' ${spec.dtype} [${spec.shape.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * Every reason the exits of a model cannot be evaluated under its task, from the output specs alone (empty when
 * they can): the task must define a confidence; the final output and each exit must be float32 of the task's
 * rank with the same classes; a segmentation exit of another size than the final needs a final of fixed H × W.
 */
export function exitEvaluationProblems(task: Task, exits: readonly ExitSpecLike[], final: ExitSpecLike): string[] {
  if (exits.length === 0) return [];
  if (!evaluable(task)) return [noConfidence(task)];
  const rank = RANK[task];
  const problems: string[] = [];
  if (final.dtype !== 'float32' || final.shape.length !== rank) {
    problems.push(`the final output ${describe(final)} is not a ${task} output: expected float32 ${SHAPE_TEXT[task]}`);
    return problems;
  }
  for (const exit of exits) {
    if (exit.dtype !== 'float32' || exit.shape.length !== rank) {
      problems.push(`exit ${describe(exit)} is not a ${task} output: expected float32 ${SHAPE_TEXT[task]}`);
      continue;
    }
    if (!sameDim(exit.shape[1], final.shape[1])) {
      problems.push(
        `exit ${describe(exit)} has ${String(exit.shape[1])} classes, but the final output ${describe(final)} has ${String(final.shape[1])}`,
      );
      continue;
    }
    if (task === 'segmentation') {
      const resampled = [2, 3].some((axis) => !sameDim(exit.shape[axis], final.shape[axis]));
      const fixed = [2, 3].every((axis) => typeof final.shape[axis] === 'number');
      if (resampled && !fixed) {
        problems.push(
          `exit ${describe(exit)} has another size than the final output ${describe(final)}, whose H × W is not fixed: an exit at another resolution needs a final output of fixed size to be resampled to`,
        );
      }
    }
  }
  return problems;
}

/** Throws {@link ExitEvaluationError} listing every {@link exitEvaluationProblems} problem on one line. */
export function assertExitsEvaluable(
  task: Task,
  exits: readonly ExitSpecLike[],
  final: ExitSpecLike,
  source?: string,
): void {
  const problems = exitEvaluationProblems(task, exits, final);
  if (problems.length === 0) return;
  const code =
    !evaluable(task) || problems.some((p) => p.includes('is not a'))
      ? ExitEvaluationErrorCode.Unevaluable
      : ExitEvaluationErrorCode.Mismatch;
  throw new ExitEvaluationError(code, `${source === undefined ? '' : `${source}: `}${problems.join('; ')}`);
}

/**
 * The size early answers are given at: the final output's H × W when both are fixed numbers, else the exit's own
 * (which {@link exitEvaluationProblems} then guarantees is the final's). 1 × 1 for classifiers.
 */
export function answerSize(layout: ExitLayout, finalShape?: readonly (number | string | null)[]): MapSize {
  if (layout.task !== 'segmentation' || finalShape === undefined) return layoutSize(layout);
  const [h, w] = [finalShape[2], finalShape[3]];
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0
    ? { height: h, width: w }
    : layoutSize(layout);
}
