import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { readPublisherSeed, signBundleDir } from '@cleave/node-runtime';
import { defaultModelId, type DeviceDescriptor, isSameDevice, partitionModel, readProfile } from '@cleave/partitioner';
import { type Codec, CODECS, DEFAULT_PLAN_CODECS, parseCodecList } from '@cleave/proto';
import type { CliContext } from '../cli-context.js';
import { createProgress } from '../progress.js';
import { addCalibrationOptions, loadCalibration, type CalibrationFlags } from './calibration-options.js';
import { addModelOptions, type ModelFlags } from './model-options.js';
import { printExitReport, printPlanTable } from './plan-table.js';

interface PartitionCommandOptions extends CalibrationFlags, ModelFlags {
  out: string;
  modelId?: string;
  edgeProfile?: string;
  cloudProfile?: string;
  rtt: number;
  maxPayload: number;
  downlinkRatio: number;
  codecs: Codec[];
  edgeTails: boolean;
  runs: number;
  warmup: number;
  threads: number;
  force: boolean;
  signKey?: string;
}

/** Parses a comma-separated codec list, rejecting unknown names. */
export function parseCodecs(value: string): Codec[] {
  const list = parseCodecList(value);
  if (list === undefined) {
    throw new InvalidArgumentError(`codecs must be a comma-separated subset of ${CODECS.join(',')}; got '${value}'`);
  }
  return list;
}

/** Parses a positive number (milliseconds, Mbps). */
export function parsePositive(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`--${name} must be a non-negative number, got '${value}'`);
    return n;
  };
}

/** Parses a positive ratio (`--downlink-ratio`). */
export function parseRatio(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(
      `--downlink-ratio must be a positive number (downlink ÷ uplink Mbps), got '${value}'`,
    );
  }
  return n;
}

/** Warns when the plan compares a machine with itself: offloading then never pays and every split is edge-only. */
function warnIfSameDevice(
  ctx: CliContext,
  edge: DeviceDescriptor,
  cloud: DeviceDescriptor,
  opts: Pick<PartitionCommandOptions, 'edgeProfile' | 'cloudProfile'>,
): void {
  if (!isSameDevice(edge, cloud)) return;
  const where =
    opts.edgeProfile === undefined && opts.cloudProfile === undefined
      ? 'were both measured here'
      : `come from the same device (${opts.edgeProfile ?? 'measured here'}, ${opts.cloudProfile ?? 'measured here'})`;
  ctx.log.warn(
    { hostname: edge.hostname, cpuModel: edge.cpuModel, logicalCpus: edge.logicalCpus },
    `the edge and cloud profiles ${where}: host ${edge.hostname}, ${edge.logicalCpus} × ${edge.cpuModel}. The plan compares a machine with itself, so it will rarely offload; run \`cleave profile\` on the edge device and on a cloud machine and pass --edge-profile and --cloud-profile`,
  );
}

/** Registers `cleave partition`: model → measured candidates → plan → bundle directory. */
export function registerPartitionCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('partition')
    .description(
      'Find split points of an ONNX model, cut heads and tails, measure them, plan over bandwidth, and write a bundle.',
    )
    .argument('<model>', 'ONNX model file')
    .requiredOption('--out <dir>', 'bundle directory to create (written atomically)')
    .option('--model-id <id>', 'model id used in the manifest and on the wire (default: file name)')
    .option('--edge-profile <file>', 'profile measured on the edge device (cleave profile); default: measure here')
    .option('--cloud-profile <file>', 'profile measured on the cloud machine; default: measure here')
    .option('--rtt <ms>', 'network round-trip time to plan for', parsePositive('rtt'), 20)
    .option(
      '--max-payload <bytes>',
      'largest NATS message; bigger payloads are infeasible',
      ctx.parseInteger('max-payload', 1024, 64 * 1024 * 1024),
      8 * 1024 * 1024,
    )
    .option(
      '--downlink-ratio <x>',
      'downlink Mbps ÷ uplink Mbps, for the time replies take (the plan is indexed by uplink Mbps)',
      parseRatio,
      1,
    )
    .option('--codecs <list>', 'wire codecs the plan may use', parseCodecs, [...DEFAULT_PLAN_CODECS])
    .option(
      '--no-edge-tails',
      'never plan a split whose tail runs on the edge after unconfident exits (staged execution); keep hard cases for the cloud',
    )
    .option('--runs <n>', 'timed runs per head and tail', ctx.parseInteger('runs', 1, 10_000), 20)
    .option('--warmup <n>', 'untimed runs first', ctx.parseInteger('warmup', 1, 1000), 3)
    .option('--threads <n>', 'onnxruntime intra-op threads', ctx.parseInteger('threads', 1, 256), 1)
    .option('--force', 'replace --out if it exists', false)
    .option('--sign-key <seedfile>', 'publisher seed (cleave keys new): sign the manifest once the bundle is written');
  addCalibrationOptions(addModelOptions(command), ctx).action(async (model: string, opts: PartitionCommandOptions) => {
    // Read first: a bad key file fails before minutes of profiling, naming the file.
    const signingKey = opts.signKey === undefined ? undefined : await readPublisherSeed(opts.signKey);
    if (!opts.modelId) {
      // The id is what agents are started with and what requests name, so a silent default surprises later.
      const id = defaultModelId(model);
      ctx.log.warn(
        { modelId: id },
        `--model-id not given: the model id defaults to the file name "${id}" (agents serve it as --model ${id}, requests go to /v1/models/${id}/infer)`,
      );
    }
    const progress = createProgress('profiling', ctx.interactive);
    const calibration = await loadCalibration(opts);
    const result = await partitionModel({
      modelPath: model,
      outDir: resolve(opts.out),
      ...(opts.modelId ? { modelId: opts.modelId } : {}),
      ...(opts.edgeProfile ? { edgeProfile: await readProfile(opts.edgeProfile) } : {}),
      ...(opts.cloudProfile ? { cloudProfile: await readProfile(opts.cloudProfile) } : {}),
      rttMs: opts.rtt,
      maxPayloadBytes: opts.maxPayload,
      downlinkRatio: opts.downlinkRatio,
      codecs: opts.codecs,
      edgeTails: opts.edgeTails,
      ...(opts.exits ? { exitOutputs: opts.exits } : {}),
      inputShapes: opts.inputShape,
      ...(opts.task ? { task: opts.task } : {}),
      ...(calibration ? { calibration } : {}),
      posthocExits: opts.posthocExits,
      accuracyBudgetPoints: opts.accuracyBudget,
      confidenceMeasure: opts.confidence,
      force: opts.force,
      profile: {
        runs: opts.runs,
        warmup: opts.warmup,
        intraOpNumThreads: opts.threads,
        onProgress: (done, total) => progress.update(done, total),
      },
      onPhase: (phase) => ctx.log.info({ model }, phase),
    }).finally(() => progress.stop());
    const signed = signingKey === undefined ? undefined : await signBundleDir(result.outDir, signingKey);
    ctx.log.info(
      {
        out: result.outDir,
        version: result.version,
        signedBy: signed?.manifest.signature?.publicKey ?? null,
        candidates: result.prepared.candidates.length,
        kept: result.plan.candidates.length,
      },
      'bundle written',
    );
    printPlanTable(result.plan);
    warnIfSameDevice(ctx, result.edgeProfile.device, result.cloudProfile.device, opts);
    if (result.calibration) printExitReport(result.calibration, result.exitReport);
    else if (result.prepared.exits.length > 0) {
      ctx.log.warn(
        'the model has exits but no --calib set was given: thresholds are not calibrated and exits are unused',
      );
    }
  });
}
