// The demo's bundle: the edge is profiled in a child process under the edge CPU quota (`cleave profile`, as the
// planner bench does), the cloud here, and `partitionModel` plans with both and calibrated exits; then it is
// signed with a publisher key made for the run and published to the object store for the cloud replica and the
// agents, which trust that key only.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { createPublisherKey, publishBundle } from '@cleave/node-runtime';
import { loadMnistSplit, partitionModel, readProfile, type PartitionResult } from '@cleave/partitioner';
import { CODECS } from '@cleave/proto';
import type { CleaveLogger } from '@cleave/node-runtime/command-line';
import { spawnCleave, type Spawner } from './demo-process.js';

/** What {@link buildDemoBundle} needs. */
export interface DemoBundleOptions {
  readonly model: string;
  /** Fashion-MNIST IDX directory; the train split calibrates. */
  readonly dataDir: string;
  readonly workDir: string;
  /** Spawns inside the edge CPU quota (or unthrottled when quotas are unavailable). */
  readonly edgeSpawner: Spawner;
  readonly runs: number;
  readonly log: CleaveLogger;
  /** Environment of the profiling child. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Profiles, partitions with calibration, and writes `workDir/bundle`. */
export async function buildDemoBundle(options: DemoBundleOptions): Promise<PartitionResult> {
  const { log } = options;
  const edgeProfilePath = join(options.workDir, 'edge-profile.json');
  const calib = ['--calib', options.dataDir, '--calib-split', 'train'];
  const profiler = spawnCleave(
    'cleave profile (edge)',
    ['profile', options.model, '--out', edgeProfilePath, '--runs', String(options.runs), ...calib],
    { spawner: options.edgeSpawner, env: { ...options.env, CLEAVE_LOG_LEVEL: 'warn' } },
  );
  const code = await profiler.exited;
  if (code !== 0) throw new Error(`edge profiling failed (${String(code)}): ${profiler.tail()}`);
  const edgeProfile = await readProfile(edgeProfilePath);
  log.info({ device: edgeProfile.device }, 'edge profiled');

  const data = await loadMnistSplit('train', options.dataDir);
  const result = await partitionModel({
    modelPath: options.model,
    outDir: join(options.workDir, 'bundle'),
    modelId: 'fmnist',
    edgeProfile,
    rttMs: 20,
    // All codecs, int8 included (the default plan codecs leave it out).
    codecs: CODECS,
    calibration: { data, source: `${options.dataDir} train`, trainSamples: 20_000, holdoutSamples: 5_000 },
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
