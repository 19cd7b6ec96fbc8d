import { InvalidArgumentError, type Command } from 'commander';
import { isTask, type Task, TASKS } from '@cleave/proto';

/** Flags that say what a model is, shared by `cleave partition` and `cleave profile` (both must agree). */
export interface ModelFlags {
  /** `NAME=3x640x640` entries, as given; the partitioner parses and checks them against the model. */
  inputShape: string[];
  task?: Task;
}

function parseTask(value: string): Task {
  if (!isTask(value)) throw new InvalidArgumentError(`--task must be one of ${TASKS.join(', ')}, got '${value}'`);
  return value;
}

/** Adds `--input-shape` (repeatable) and `--task` to a command. */
export function addModelOptions(command: Command): Command {
  return command
    .option(
      '--input-shape <name=dims>',
      'fix the non-batch dims of a model input, e.g. images=3x640x640 (repeatable; the batch stays dynamic)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      '--task <task>',
      `what the outputs mean: ${TASKS.join(', ')} (default: inferred from the outputs)`,
      parseTask,
    );
}
