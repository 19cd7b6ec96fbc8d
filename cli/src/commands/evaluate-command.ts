import { stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import ort from 'onnxruntime-node';
import {
  DEBIAN_FASHION_MNIST_DIR,
  isIdxDirectory,
  loadCalibrationSet,
  loadMnistSplit,
  loadOnnxModel,
  measureClassifierAccuracy,
  type AccuracyMetric,
  type CalibrationData,
  type LabelledImages,
  type MnistSplit,
} from '@cleave/partitioner';
import { inferTask, isTask, TASKS, type Task } from '@cleave/proto';
import type { CliContext } from '../cli-context.js';
import { createProgress } from '../progress.js';
import { addPreprocessOptions, parseSplit, preprocessFrom, type PreprocessFlags } from './calibration-options.js';

interface EvaluateOptions extends PreprocessFlags {
  data: string;
  labels?: string;
  split: MnistSplit;
  task?: Task;
  batch: number;
  threads: number;
  out?: string;
}

/** One model's row in the metrics file. */
export interface ModelMetrics {
  file: string;
  sizeBytes: number;
  /** `metric` is absent for top-1 accuracy against labels (the IDX flow). */
  outputs: { output: string; top1: number; correct: number; metric?: AccuracyMetric }[];
  inferenceMsPerSample: number;
}

function parseTask(value: string): Task {
  if (!isTask(value)) throw new InvalidArgumentError(`--task must be one of ${TASKS.join(', ')}, got '${value}'`);
  return value;
}

const METRIC_LABEL: Record<AccuracyMetric, string> = {
  top1: 'top1',
  agreement: 'agreement',
  'pixel-accuracy': 'pixel-acc',
  'pixel-agreement': 'pixel-agree',
};

/** Registers `cleave evaluate`: the accuracy of every output (each early exit too) of classifiers and segmenters. */
export function registerEvaluateCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('evaluate')
    .description(
      'Measure the accuracy of every output (each early exit too) of ONNX models on a labelled set: top-1 for classifiers, pixel accuracy for segmentation. On an unlabelled set, report agreement with the final output.',
    )
    .argument('<models...>', 'ONNX models (an MNIST-layout IDX split feeds [N, 1, H, W] float input in [0, 1])')
    .option(
      '--data <path>',
      'evaluation set: a directory of *-idx?-ubyte[.gz] files, a folder of images (class subfolders, or flat and unlabelled), a .npy (labels: --labels) or a .npz',
      DEBIAN_FASHION_MNIST_DIR,
    )
    .option('--labels <file>', 'labels for a .npy --data file: [N] class indices or [N, H, W] class maps')
    .option('--split <split>', 'train or t10k (t10k is for evaluation; never train on it)', parseSplit('split'), 't10k')
    .option(
      '--task <task>',
      `how outputs are read (default: inferred from the model's outputs): ${TASKS.join(', ')}`,
      parseTask,
    )
    .option('--batch <n>', 'images per inference run', ctx.parseInteger('batch', 1, 65536), 256)
    .option('--threads <n>', 'onnxruntime intra-op threads', ctx.parseInteger('threads', 1, 256), 1)
    .option('--out <file>', 'also write the results as JSON to this file');
  addPreprocessOptions(command, ctx, '').action(async (models: string[], opts: EvaluateOptions) => {
    const preprocess = preprocessFrom(opts);
    // The IDX flow, exactly as always: one split for every model, no model input needed.
    const idx = preprocess === undefined && opts.labels === undefined && (await isIdxDirectory(opts.data));
    const shared: LabelledImages | undefined = idx ? await loadMnistSplit(opts.split, opts.data) : undefined;
    const results: ModelMetrics[] = [];
    let samples = shared?.count ?? 0;
    let labelled = true;
    for (const model of models) {
      let data: CalibrationData | LabelledImages;
      let task: Task = opts.task ?? 'classification';
      if (shared !== undefined) {
        data = shared;
      } else {
        const onnx = await loadOnnxModel(model);
        const finals = onnx.outputs.filter((o) => !/^exit/i.test(o.name));
        task = opts.task ?? inferTask(onnx.inputs, finals.length > 0 ? finals : onnx.outputs);
        const classes = finals[0]?.shape[1];
        data = await loadCalibrationSet(opts.data, {
          inputSpec: onnx.inputs[0]!,
          split: opts.split,
          ...(opts.labels !== undefined ? { labelsPath: opts.labels } : {}),
          ...(preprocess !== undefined ? { preprocess } : {}),
          ...(typeof classes === 'number' ? { classes } : {}),
        });
        samples = data.count;
        labelled = data.labels !== undefined;
      }
      if (task !== 'classification' && task !== 'segmentation') {
        throw new InvalidArgumentError(
          `${model}: cleave evaluate scores classification and segmentation models; this one is ${task} (use --task if that is wrong)`,
        );
      }
      const progress = createProgress(basename(model), ctx.interactive);
      const acc = await measureClassifierAccuracy(model, data, {
        batchSize: opts.batch,
        intraOpNumThreads: opts.threads,
        task,
        onProgress: (done, total) => progress.update(done, total),
      }).finally(() => progress.stop());
      results.push({
        file: basename(model),
        sizeBytes: (await stat(model)).size,
        outputs: acc.outputs.map(({ output, top1, correct, metric }) => ({
          output,
          top1: round(top1, 4),
          correct: round(correct, 4),
          ...(metric === 'top1' ? {} : { metric }),
        })),
        inferenceMsPerSample: round(acc.inferenceMs / Math.max(1, acc.samples), 4),
      });
    }
    const metrics = {
      measuredBy: 'cleave evaluate (TypeScript, onnxruntime-node)',
      onnxruntime: ort.env.versions.node ?? 'unknown',
      dataset: idx
        ? { dir: opts.data, split: opts.split, samples }
        : { path: opts.data, ...(opts.labels !== undefined ? { labels: opts.labels } : {}), labelled, samples },
      threads: opts.threads,
      batchSize: opts.batch,
      models: results,
    };
    for (const m of results) {
      for (const o of m.outputs) {
        const label = METRIC_LABEL[o.metric ?? 'top1'];
        process.stdout.write(`${m.file.padEnd(24)} ${o.output.padEnd(10)} ${label} ${(o.top1 * 100).toFixed(2)}%\n`);
      }
    }
    if (opts.out !== undefined) {
      await writeFile(opts.out, JSON.stringify(metrics, null, 2) + '\n');
      ctx.log.info({ out: opts.out }, 'metrics written');
    }
  });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
