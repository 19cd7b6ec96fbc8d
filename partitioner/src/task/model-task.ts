// Which task a model serves, and whether its outputs support it: decided once, at partition time, and then
// carried in the manifest so that calibration, the exit decision, evaluation and the console all read one answer.
import { CodedError, inferTask, type Task, TASKS, taskHasConfidence } from '@cleave/proto';
import type { TensorSpec } from '../onnx/onnx-model.js';

/** Why a task cannot be used with a model. */
export const TaskErrorCode = {
  /** `--task` names a task the model's outputs cannot support. */
  Unsupported: 'unsupported_task',
  /** The model has exits, but its task defines no confidence or has several final outputs. */
  ExitsUnsupported: 'exits_unsupported',
} as const;
/** One of {@link TaskErrorCode}. */
export type TaskErrorCode = (typeof TaskErrorCode)[keyof typeof TaskErrorCode];

/** A task that does not fit a model's outputs; the message says what to change. */
export class TaskError extends CodedError<TaskErrorCode> {
  override readonly name = 'TaskError';
}

/** What the primary final output must look like for a task, or undefined when any output will do. */
const PRIMARY_RANK: Partial<Record<Task, number>> = { classification: 2, segmentation: 4 };

function describe(spec: TensorSpec): string {
  return `${spec.dtype} [${spec.shape.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * The task of a model: the one asked for, checked against the outputs, or the one {@link inferTask} reads from
 * them. `finals` are the outputs that are not exits; the first is the primary one.
 */
export function chooseTask(
  source: string,
  inputs: readonly TensorSpec[],
  finals: readonly TensorSpec[],
  requested: Task | undefined,
): Task {
  if (requested === undefined) return inferTask(inputs, finals);
  if (!TASKS.includes(requested)) {
    throw new TaskError(TaskErrorCode.Unsupported, `--task must be one of ${TASKS.join(', ')}; got '${requested}'`);
  }
  const rank = PRIMARY_RANK[requested];
  const primary = finals[0]!;
  if (rank !== undefined) {
    const shaped = rank === 2 ? '[N, classes]' : '[N, classes, H, W]';
    if (finals.length !== 1 || primary.dtype !== 'float32' || primary.shape.length !== rank) {
      throw new TaskError(
        TaskErrorCode.Unsupported,
        `${source}: --task ${requested} needs one float32 ${shaped} final output, but the final outputs are ${finals
          .map((f) => `'${f.name}' ${describe(f)}`)
          .join(', ')}; use --task ${inferTask(inputs, finals)} (inferred) or another task`,
      );
    }
  }
  return requested;
}

/**
 * Throws when a model's exits cannot be evaluated under its task: an exit only stands in for one final output,
 * and only a task with a confidence can decide when to leave. Never lets an exit be skipped silently later.
 */
export function assertTaskAllowsExits(
  source: string,
  task: Task,
  exits: readonly string[],
  finals: readonly TensorSpec[],
): void {
  if (exits.length === 0) return;
  if (!taskHasConfidence(task)) {
    throw new TaskError(
      TaskErrorCode.ExitsUnsupported,
      `${source}: outputs [${exits.join(', ')}] are early exits, but a ${task} model has no defined confidence; pass --exits none to treat them as plain outputs, or --task classification|segmentation if that is what they are`,
    );
  }
  if (finals.length !== 1) {
    throw new TaskError(
      TaskErrorCode.ExitsUnsupported,
      `${source}: early exits [${exits.join(', ')}] can stand in for one final output, but the model has ${finals.length} (${finals.map((f) => f.name).join(', ')})`,
    );
  }
}
