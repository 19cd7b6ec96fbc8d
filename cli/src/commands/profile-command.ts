import type { Command } from 'commander';
import { analyseModel, profileCandidates, writeProfile } from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';
import { createProgress } from '../progress.js';

interface ProfileCommandOptions {
  out: string;
  runs: number;
  warmup: number;
  threads: number;
  batch: number;
  exits: string[];
}

/** Registers `cleave profile`: measure every candidate's head and tail on this machine. */
export function registerProfileCommand(program: Command, ctx: CliContext): void {
  program
    .command('profile')
    .description(
      'Measure every split candidate of a model on this machine (run it on the edge device and on the cloud machine).',
    )
    .argument('<model>', 'ONNX model file')
    .requiredOption('--out <file>', 'profile JSON to write')
    .option('--runs <n>', 'timed runs per head and tail', ctx.parseInteger('runs', 1, 10_000), 20)
    .option('--warmup <n>', 'untimed runs first', ctx.parseInteger('warmup', 1, 1000), 3)
    .option('--threads <n>', 'onnxruntime intra-op threads', ctx.parseInteger('threads', 1, 256), 1)
    .option('--batch <n>', 'samples per run', ctx.parseInteger('batch', 1, 4096), 1)
    .option(
      '--exits <outputs>',
      'comma-separated model outputs that are early exits',
      (v: string) => v.split(',').filter(Boolean),
      [] as string[],
    )
    .action(async (model: string, opts: ProfileCommandOptions) => {
      const { model: loaded, candidates } = await analyseModel(model, opts.exits);
      const progress = createProgress('profiling', ctx.interactive);
      const profile = await profileCandidates(loaded, candidates, {
        runs: opts.runs,
        warmup: opts.warmup,
        intraOpNumThreads: opts.threads,
        batch: opts.batch,
        onProgress: (done, total) => progress.update(done, total),
      }).finally(() => progress.stop());
      await writeProfile(opts.out, profile);
      ctx.log.info({ out: opts.out, candidates: candidates.length, device: profile.device }, 'profile written');
    });
}
