import { InvalidArgumentError, type Command } from 'commander';
import {
  CONFIDENCE_MEASURES,
  loadMnistSplit,
  type CalibrationSet,
  type ConfidenceMeasure,
  type MnistSplit,
} from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';

/** Calibration and exit flags shared by `cleave partition` and `cleave profile`. */
export interface CalibrationFlags {
  calib?: string;
  calibSplit: MnistSplit;
  calibTrain: number;
  calibHoldout: number;
  exits?: string[];
  posthocExits: number;
  accuracyBudget: number;
  confidence: ConfidenceMeasure | 'auto';
}

function parseConfidence(value: string): ConfidenceMeasure | 'auto' {
  if (value !== 'auto' && !(CONFIDENCE_MEASURES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `--confidence must be auto or one of ${CONFIDENCE_MEASURES.join(', ')}, got '${value}'`,
    );
  }
  return value as ConfidenceMeasure | 'auto';
}

function parseSplit(value: string): MnistSplit {
  if (value !== 'train' && value !== 't10k')
    throw new InvalidArgumentError(`--calib-split must be 'train' or 't10k', got '${value}'`);
  return value;
}

/** Adds the calibration and exit flags to a command. */
export function addCalibrationOptions(command: Command, ctx: CliContext): Command {
  return command
    .option(
      '--calib <dir>',
      'labelled calibration set: a directory of MNIST-layout IDX files (enables exits calibration and post-hoc exits)',
    )
    .option(
      '--calib-split <split>',
      'which IDX split of --calib to use (never calibrate on your test split)',
      parseSplit,
      'train' as MnistSplit,
    )
    .option(
      '--calib-train <n>',
      'samples from the start of the split that train post-hoc exit heads',
      ctx.parseInteger('calib-train', 1, 10_000_000),
      20_000,
    )
    .option(
      '--calib-holdout <n>',
      'samples from the end of the split that choose thresholds (never used for training)',
      ctx.parseInteger('calib-holdout', 1, 10_000_000),
      5_000,
    )
    .option(
      '--exits <outputs>',
      'comma-separated outputs that are early exits (default: outputs named exit*)',
      (v: string) => v.split(',').filter(Boolean),
    )
    .option(
      '--posthoc-exits <n>',
      'exit heads to attach to a model without exits (0 = none)',
      ctx.parseInteger('posthoc-exits', 0, 8),
      3,
    )
    .option(
      '--accuracy-budget <points>',
      'accuracy the exits may cost versus the final output, in points',
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0 || n > 100)
          throw new InvalidArgumentError(`--accuracy-budget must be 0..100 points, got '${v}'`);
        return n;
      },
      1.0,
    )
    .option(
      '--confidence <measure>',
      `exit confidence measure: auto, ${CONFIDENCE_MEASURES.join(', ')}`,
      parseConfidence,
      'auto' as const,
    );
}

/** Loads the calibration set named by the flags, if any. */
export async function loadCalibration(flags: CalibrationFlags): Promise<CalibrationSet | undefined> {
  if (flags.calib === undefined) return undefined;
  const data = await loadMnistSplit(flags.calibSplit, flags.calib);
  return {
    data,
    source: `${flags.calib} ${flags.calibSplit}`,
    trainSamples: flags.calibTrain,
    holdoutSamples: flags.calibHoldout,
  };
}
