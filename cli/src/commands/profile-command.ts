import type { Command } from 'commander';
import { prepareModel, profileCandidates, writeProfile } from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';
import { createTimingCgroup } from '../cpu-quota.js';
import { createProgress } from '../progress.js';
import { addCalibrationOptions, loadCalibration, type CalibrationFlags } from './calibration-options.js';
import { addModelOptions, type ModelFlags } from './model-options.js';

interface ProfileCommandOptions extends CalibrationFlags, ModelFlags {
  out: string;
  runs: number;
  warmup: number;
  threads: number;
  batch: number;
  timingCgroup?: string;
}

/** Registers `cleave profile`: measure every candidate's head and tail on this machine. */
export function registerProfileCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('profile')
    .description(
      'Measure every split candidate of a model on this machine. Run it on the edge device and on the cloud machine ' +
        'with the same model and --calib options, then pass both files to cleave partition.',
    )
    .argument('<model>', 'ONNX model file')
    .requiredOption('--out <file>', 'profile JSON to write')
    .option('--runs <n>', 'timed runs per head and tail', ctx.parseInteger('runs', 1, 10_000), 20)
    .option('--warmup <n>', 'untimed runs first', ctx.parseInteger('warmup', 1, 1000), 3)
    .option('--threads <n>', 'onnxruntime intra-op threads', ctx.parseInteger('threads', 1, 256), 1)
    .option('--batch <n>', 'samples per run', ctx.parseInteger('batch', 1, 4096), 1)
    .option(
      '--timing-cgroup <dir>',
      'cgroup v1 cpu directory to run the timed sections in (an emulated device); set-up runs outside it',
    );
  addCalibrationOptions(addModelOptions(command), ctx).action(async (model: string, opts: ProfileCommandOptions) => {
    const calibration = await loadCalibration(opts);
    const prepared = await prepareModel(model, {
      ...(opts.exits ? { exitOutputs: opts.exits } : {}),
      inputShapes: opts.inputShape,
      ...(opts.task ? { task: opts.task } : {}),
      ...(calibration ? { calibration } : {}),
      posthocExits: opts.posthocExits,
      onPhase: (phase) => ctx.log.info({ model }, phase),
    });
    const progress = createProgress('profiling', ctx.interactive);
    const timed = opts.timingCgroup === undefined ? undefined : await createTimingCgroup(opts.timingCgroup);
    const profile = await profileCandidates(prepared.model, prepared.candidates, {
      ...(timed ? { timed } : {}),
      runs: opts.runs,
      warmup: opts.warmup,
      intraOpNumThreads: opts.threads,
      batch: opts.batch,
      onProgress: (done, total) => progress.update(done, total),
    }).finally(() => progress.stop());
    await writeProfile(opts.out, profile);
    ctx.log.info({ out: opts.out, candidates: prepared.candidates.length, device: profile.device }, 'profile written');
  });
}
