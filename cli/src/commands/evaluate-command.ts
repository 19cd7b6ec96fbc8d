import { stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import ort from 'onnxruntime-node';
import {
  DEBIAN_FASHION_MNIST_DIR,
  loadMnistSplit,
  measureClassifierAccuracy,
  type MnistSplit,
} from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';
import { createProgress } from '../progress.js';

interface EvaluateOptions {
  data: string;
  split: MnistSplit;
  batch: number;
  threads: number;
  out?: string;
}

/** One model's row in the metrics file. */
export interface ModelMetrics {
  file: string;
  sizeBytes: number;
  outputs: { output: string; top1: number; correct: number }[];
  inferenceMsPerSample: number;
}

/** Registers `cleave evaluate`: top-1 accuracy of every output of image classifiers on an IDX split. */
export function registerEvaluateCommand(program: Command, ctx: CliContext): void {
  program
    .command('evaluate')
    .description(
      'Measure top-1 accuracy of every output (each early exit too) of ONNX image classifiers on an MNIST-layout IDX split.',
    )
    .argument('<models...>', 'ONNX classifiers taking [N, 1, H, W] float input in [0, 1]')
    .option('--data <dir>', 'directory of *-idx?-ubyte[.gz] files', DEBIAN_FASHION_MNIST_DIR)
    .option('--split <split>', 'train or t10k (t10k is for evaluation; never train on it)', parseSplit, 't10k')
    .option('--batch <n>', 'images per inference run', ctx.parseInteger('batch', 1, 65536), 256)
    .option('--threads <n>', 'onnxruntime intra-op threads', ctx.parseInteger('threads', 1, 256), 1)
    .option('--out <file>', 'also write the results as JSON to this file')
    .action(async (models: string[], opts: EvaluateOptions) => {
      const data = await loadMnistSplit(opts.split, opts.data);
      const results: ModelMetrics[] = [];
      for (const model of models) {
        const progress = createProgress(basename(model), ctx.interactive);
        const acc = await measureClassifierAccuracy(model, data, {
          batchSize: opts.batch,
          intraOpNumThreads: opts.threads,
          onProgress: (done, total) => progress.update(done, total),
        }).finally(() => progress.stop());
        results.push({
          file: basename(model),
          sizeBytes: (await stat(model)).size,
          outputs: acc.outputs.map(({ output, top1, correct }) => ({ output, top1: round(top1, 4), correct })),
          inferenceMsPerSample: round(acc.inferenceMs / acc.samples, 4),
        });
      }
      const metrics = {
        measuredBy: 'cleave evaluate (TypeScript, onnxruntime-node)',
        onnxruntime: ort.env.versions.node ?? 'unknown',
        dataset: { dir: opts.data, split: opts.split, samples: data.count },
        threads: opts.threads,
        batchSize: opts.batch,
        models: results,
      };
      for (const m of results) {
        for (const o of m.outputs) {
          process.stdout.write(`${m.file.padEnd(24)} ${o.output.padEnd(10)} top1 ${(o.top1 * 100).toFixed(2)}%\n`);
        }
      }
      if (opts.out !== undefined) {
        await writeFile(opts.out, JSON.stringify(metrics, null, 2) + '\n');
        ctx.log.info({ out: opts.out }, 'metrics written');
      }
    });
}

function parseSplit(value: string): MnistSplit {
  if (value !== 'train' && value !== 't10k')
    throw new InvalidArgumentError(`--split must be 'train' or 't10k', got '${value}'`);
  return value;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
