// What a model's outputs mean. Everything that once assumed class logits (exit calibration, the exit decision,
// `cleave evaluate`, the console's exit curve, the bench) reads the task from the manifest instead.
import { z } from 'zod';

/** Tasks a bundle can declare in `model.task`. */
export const TASKS = ['classification', 'segmentation', 'detection', 'dense', 'sequence', 'other'] as const;
/** One of {@link TASKS}. */
export type Task = (typeof TASKS)[number];
/** zod schema of a task. */
export const TaskSchema = z.enum(TASKS);

/**
 * Tasks whose outputs have a defined confidence, so early exits can be calibrated and applied: class logits
 * `[N, K]`, and per-pixel class logits `[N, K, H, W]` (the mean of the per-pixel top probability). The other tasks
 * get splits only.
 */
export const TASKS_WITH_CONFIDENCE: readonly Task[] = Object.freeze(['classification', 'segmentation']);

/** True when `value` names a task. */
export function isTask(value: unknown): value is Task {
  return (TASKS as readonly unknown[]).includes(value);
}

/** True when exits of a model with this task can be calibrated and applied. */
export function taskHasConfidence(task: Task): boolean {
  return TASKS_WITH_CONFIDENCE.includes(task);
}

/** A tensor's shape as far as task inference cares: numbers, or anything else for a symbolic dim. */
interface ShapedSpec {
  readonly dtype: string;
  readonly shape: readonly unknown[];
}

const INTEGER_DTYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

/**
 * The task a model's outputs suggest, for when the user gives no `--task`:
 * - several final outputs (pose heads, detector boxes and scores): `other`;
 * - float `[N, K]` with K ≥ 2: `classification`;
 * - float `[N, K, H, W]` at the input's resolution (or at least a quarter of it on each side): `segmentation`;
 * - float `[N, A, h, w]` on a coarse grid (under a quarter of the input's side): `detection` (YOLO-style grids);
 * - float `[N, T, D]` from integer (token) inputs: `sequence`;
 * - any other float map: `dense`; anything else: `other`.
 * Only a guess from shapes, so every consumer can be told otherwise with `--task`.
 */
export function inferTask(inputs: readonly ShapedSpec[], finals: readonly ShapedSpec[]): Task {
  if (finals.length !== 1) return 'other';
  const out = finals[0]!;
  if (out.dtype !== 'float32') return 'other';
  const dims = out.shape;
  const num = (d: unknown): number | undefined => (typeof d === 'number' ? d : undefined);
  if (dims.length === 2) return (num(dims[1]) ?? 2) >= 2 ? 'classification' : 'dense';
  const tokenInputs = inputs.some((i) => INTEGER_DTYPES.has(i.dtype));
  if (dims.length === 3 && tokenInputs) return 'sequence';
  if (dims.length === 4) {
    const image = inputs.find((i) => i.shape.length === 4 && !INTEGER_DTYPES.has(i.dtype));
    const [h, w] = [num(dims[2]), num(dims[3])];
    const [ih, iw] = [num(image?.shape[2]), num(image?.shape[3])];
    if (h !== undefined && w !== undefined && ih !== undefined && iw !== undefined) {
      if (4 * h >= ih && 4 * w >= iw) return (num(dims[1]) ?? 2) >= 2 ? 'segmentation' : 'dense';
      return 'detection';
    }
  }
  return 'dense';
}
