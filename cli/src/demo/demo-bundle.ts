// The demo's bundle: the edge is profiled in a child process under the edge CPU quota (`cleave profile`, as the
// planner bench does), the cloud here, and `partitionModel` plans with both and calibrated exits; then it is
// signed with a publisher key made for the run and published to the object store for the cloud replica and the
// agents, which trust that key only.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { createPublisherKey, publishBundle } from '@cleave/node-runtime';
import { partitionModel, readProfile, type PartitionResult } from '@cleave/partitioner';
import { CODECS } from '@cleave/proto';
import type { CleaveLogger } from '@cleave/node-runtime/command-line';
import { demoPreprocess, type DemoModel } from './demo-model.js';
import type { CpuQuotaGroup } from '../cpu-quota.js';
import { profileInQuota } from '../profile-in-quota.js';

/** What {@link buildDemoBundle} needs. */
export interface DemoBundleOptions {
  readonly model: DemoModel;
  /** Fashion-MNIST IDX directory; the train split calibrates. */
  readonly dataDir: string;
  readonly workDir: string;
  /** The edge CPU quota the profile is timed in (unthrottled when quotas are unavailable). */
  readonly edgeQuota: CpuQuotaGroup;
  readonly runs: number;
  /** Calibration samples that choose the exit thresholds (the end of train). */
  readonly holdoutSamples: number;
  readonly log: CleaveLogger;
  /** Environment of the profiling child. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Profiles, partitions with calibration, and writes `workDir/bundle`. */
export async function buildDemoBundle(options: DemoBundleOptions): Promise<PartitionResult> {
  const { log } = options;
  const edgeProfilePath = join(options.workDir, 'edge-profile.json');
  const { model } = options;
  const preprocess = demoPreprocess(model);
  const calib = ['--calib', options.dataDir, '--calib-split', 'train'];
  if (preprocess?.resize !== undefined) calib.push('--calib-resize', String(preprocess.resize));
  await profileInQuota(
    options.edgeQuota,
    [model.path, '--out', edgeProfilePath, '--runs', String(options.runs), ...calib],
    { ...options.env, CLEAVE_LOG_LEVEL: 'warn' },
  );
  const edgeProfile = await readProfile(edgeProfilePath);
  log.info({ device: edgeProfile.device }, 'edge profiled');

  const result = await partitionModel({
    modelPath: model.path,
    outDir: join(options.workDir, 'bundle'),
    modelId: model.id,
    edgeProfile,
    rttMs: 20,
    // All codecs, int8 included (the default plan codecs leave it out).
    codecs: CODECS,
    calibration: {
      data: { path: options.dataDir, split: 'train', ...(preprocess ? { preprocess } : {}) },
      source: `${options.dataDir} train`,
      trainSamples: 20_000,
      holdoutSamples: options.holdoutSamples,
    },
    force: true,
    profile: { runs: options.runs, warmup: 3, intraOpNumThreads: 1 },
    onPhase: (phase) => log.info(phase),
  });
  log.info(
    {
      version: result.version,
      candidates: result.prepared.candidates.length,
      kept: result.plan.candidates.length,
      earlyExitRate: result.calibration?.operatingPoint.exitRate ?? null,
    },
    'bundle written',
  );
  return result;
}

/** A publisher key pair for this run; the seed is also written to `workDir/publisher.nk` (0600), as `cleave keys new` does. */
export async function createDemoPublisherKey(workDir: string): Promise<{ seed: string; publicKey: string }> {
  const key = createPublisherKey();
  await writeFile(join(workDir, 'publisher.nk'), `${key.seed}\n`, { mode: 0o600 });
  return key;
}

/** Signs the manifest with `seed`, uploads the bundle and makes it current. */
export async function publishDemoBundle(
  nc: NatsConnection,
  dir: string,
  prefix: string,
  log: CleaveLogger,
  seed: string,
): Promise<void> {
  const published = await publishBundle(nc, dir, { prefix, makeCurrent: true, signingKey: seed });
  log.info(
    { model: published.model, version: published.version, bytes: published.bytes, signed: true },
    'bundle published',
  );
}
