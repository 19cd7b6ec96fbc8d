import { InvalidArgumentError, type Command } from 'commander';
import {
  CONFIDENCE_MEASURES,
  describeCalibrationSource,
  isIdxDirectory,
  loadMnistSplit,
  type CalibrationPreprocess,
  type CalibrationSet,
  type CalibrationSource,
  type ConfidenceMeasure,
  type MnistSplit,
} from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';

/** Image and array preprocessing flags, under a prefix (`calib-` for partition and profile, none for evaluate). */
export interface PreprocessFlags {
  resize?: number;
  crop?: [number, number];
  mean?: number[];
  std?: number[];
  scale?: number;
  channels?: CalibrationPreprocess['channels'];
  layout?: CalibrationPreprocess['layout'];
}

/** Calibration and exit flags shared by `cleave partition` and `cleave profile`. */
export interface CalibrationFlags {
  calib?: string;
  calibLabels?: string;
  calibSplit: MnistSplit;
  calibTrain: number;
  calibHoldout: number;
  calibResize?: number;
  calibCrop?: [number, number];
  calibMean?: number[];
  calibStd?: number[];
  calibScale?: number;
  calibChannels?: CalibrationPreprocess['channels'];
  calibLayout?: CalibrationPreprocess['layout'];
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

/** Parses an IDX split name for the flag `--<flag>`. */
export function parseSplit(flag: string): (value: string) => MnistSplit {
  return (value) => {
    if (value !== 'train' && value !== 't10k')
      throw new InvalidArgumentError(`--${flag} must be 'train' or 't10k', got '${value}'`);
    return value;
  };
}

function parseNumbers(flag: string): (value: string) => number[] {
  return (value) => {
    const parts = value.split(',').map((v) => v.trim());
    const numbers = parts.map(Number);
    if (parts.length === 0 || parts.some((p) => p === '') || numbers.some((n) => !Number.isFinite(n))) {
      throw new InvalidArgumentError(
        `--${flag} must be comma-separated numbers (e.g. 0.485,0.456,0.406), got '${value}'`,
      );
    }
    return numbers;
  };
}

function parseCrop(flag: string): (value: string) => [number, number] {
  return (value) => {
    const match = /^(\d+)(?:[x×](\d+))?$/.exec(value.trim());
    const h = Number(match?.[1]);
    const w = Number(match?.[2] ?? match?.[1]);
    if (!match || !(h >= 1 && w >= 1 && h <= 65_536 && w <= 65_536)) {
      throw new InvalidArgumentError(`--${flag} must be HxW (e.g. 224x224) or one size N, got '${value}'`);
    }
    return [h, w];
  };
}

function parseChoice<T extends string>(flag: string, choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`--${flag} must be one of ${choices.join(', ')}, got '${value}'`);
    }
    return value as T;
  };
}

/** Adds the preprocessing flags (`--<prefix>resize` …) to a command. */
export function addPreprocessOptions(command: Command, ctx: CliContext, prefix: '' | 'calib-'): Command {
  const f = (name: string) => `${prefix}${name}`;
  return command
    .option(
      `--${f('resize')} <n>`,
      'image folders: resize the shorter side to n pixels (bilinear) before the centre crop (default: resize straight to the model input H×W)',
      ctx.parseInteger(f('resize'), 1, 65_536),
    )
    .option(`--${f('crop')} <HxW>`, 'image folders: centre crop (default: the model input H×W)', parseCrop(f('crop')))
    .option(
      `--${f('mean')} <list>`,
      'per-channel mean subtracted after scaling, e.g. 0.485,0.456,0.406',
      parseNumbers(f('mean')),
    )
    .option(
      `--${f('std')} <list>`,
      'per-channel standard deviation divided by, e.g. 0.229,0.224,0.225',
      parseNumbers(f('std')),
    )
    .option(
      `--${f('scale')} <x>`,
      'divide values by x first (default: 255 for images, 1 for .npy/.npz arrays, so uint8 arrays stay 0..255)',
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new InvalidArgumentError(`--${f('scale')} must be a positive number, got '${v}'`);
        return n;
      },
    )
    .option(
      `--${f('channels')} <order>`,
      'image folders: rgb or bgr for 3-channel models, gray to convert colour images for 1-channel models',
      parseChoice(f('channels'), ['rgb', 'bgr', 'gray'] as const),
    )
    .option(
      `--${f('layout')} <layout>`,
      'model input layout: nchw or nhwc (default: guessed from where the 1- or 3-sized dim is)',
      parseChoice(f('layout'), ['nchw', 'nhwc'] as const),
    );
}

/** The preprocessing options named by flags, or undefined when none is set. */
export function preprocessFrom(flags: PreprocessFlags): CalibrationPreprocess | undefined {
  const p: CalibrationPreprocess = {
    ...(flags.resize !== undefined ? { resize: flags.resize } : {}),
    ...(flags.crop !== undefined ? { crop: flags.crop } : {}),
    ...(flags.mean !== undefined ? { mean: flags.mean } : {}),
    ...(flags.std !== undefined ? { std: flags.std } : {}),
    ...(flags.scale !== undefined ? { scale: flags.scale } : {}),
    ...(flags.channels !== undefined ? { channels: flags.channels } : {}),
    ...(flags.layout !== undefined ? { layout: flags.layout } : {}),
  };
  return Object.keys(p).length > 0 ? p : undefined;
}

/** Adds the calibration and exit flags to a command. */
export function addCalibrationOptions(command: Command, ctx: CliContext): Command {
  command
    .option(
      '--calib <path>',
      'calibration set (enables exit calibration and post-hoc exits): a folder of PNG/JPEG images in class subfolders, or flat and unlabelled; a .npy of inputs (labels: --calib-labels) or a .npz with x and y; or a directory of MNIST-layout IDX files. Without labels, exits are calibrated to agree with the full model',
    )
    .option(
      '--calib-labels <file>',
      'labels for a .npy (or IDX) --calib file: a .npy of [N] class indices or [N, H, W] class maps',
    )
    .option(
      '--calib-split <split>',
      'which IDX split of --calib to use (never calibrate on your test split)',
      parseSplit('calib-split'),
      'train' as MnistSplit,
    )
    .option(
      '--calib-train <n>',
      'samples from the start of the set that train post-hoc exit heads',
      ctx.parseInteger('calib-train', 1, 10_000_000),
      20_000,
    )
    .option(
      '--calib-holdout <n>',
      'samples from the end of the set that choose thresholds (never used for training)',
      ctx.parseInteger('calib-holdout', 1, 10_000_000),
      5_000,
    );
  return addPreprocessOptions(command, ctx, 'calib-')
    .option(
      '--exits <outputs>',
      'comma-separated outputs that are early exits, or none (default: outputs named exit*)',
      (v: string) => (v.trim() === 'none' ? [] : v.split(',').filter(Boolean)),
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

/** The calibration source the flags name (a path plus how to read it), or undefined without --calib. */
export function calibrationSourceFrom(flags: CalibrationFlags): CalibrationSource | undefined {
  if (flags.calib === undefined) return undefined;
  const preprocess = preprocessFrom({
    resize: flags.calibResize,
    crop: flags.calibCrop,
    mean: flags.calibMean,
    std: flags.calibStd,
    scale: flags.calibScale,
    channels: flags.calibChannels,
    layout: flags.calibLayout,
  });
  return {
    path: flags.calib,
    split: flags.calibSplit,
    ...(flags.calibLabels !== undefined ? { labelsPath: flags.calibLabels } : {}),
    ...(preprocess !== undefined ? { preprocess } : {}),
  };
}

/**
 * The calibration set named by the flags, if any. An IDX directory without preprocessing flags is loaded here,
 * exactly as always; any other source is loaded by prepareModel once the model's input shape is known.
 */
export async function loadCalibration(flags: CalibrationFlags): Promise<CalibrationSet | undefined> {
  const source = calibrationSourceFrom(flags);
  if (source === undefined) return undefined;
  const parts = { trainSamples: flags.calibTrain, holdoutSamples: flags.calibHoldout };
  const idx = await isIdxDirectory(source.path);
  if (idx && source.preprocess === undefined && source.labelsPath === undefined) {
    const data = await loadMnistSplit(flags.calibSplit, source.path);
    return { data, source: `${source.path} ${flags.calibSplit}`, ...parts };
  }
  // prepareModel reads the source once it knows the model's input shape (resolveCalibrationData).
  return {
    data: source,
    source: describeCalibrationSource(idx ? source : { ...source, split: undefined }),
    ...parts,
  };
}
