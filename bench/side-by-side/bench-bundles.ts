/**
 * Builds the bundles the bench serves, the way a user would: `cleave profile` timed on the (throttled) edge, then
 * `cleave partition --edge-profile` here (the cloud side is profiled unthrottled), with exit calibration on
 * Fashion-MNIST train for the example model and the int8 codec on the wire.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { profileInQuota, REPO_ROOT, type CpuQuotaGroup } from '@cleave/cli';
import { parseBundleManifest, type BundleManifest } from '@cleave/proto';

const CLEAVE = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const CALIB = ['--calib', '/usr/share/datasets/fashion-mnist'];

function finished(child: ChildProcess, what: string): Promise<void> {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${what} exited ${code}: ${err.slice(-2000)}`)),
    ),
  );
}

/** What to build. */
export interface BundleSpec {
  readonly id: string;
  readonly modelPath: string;
  readonly calibrate: boolean;
  /** `--calib-resize`: the calibration images' size when the model wants them larger than 28×28. */
  readonly calibResize?: number;
  /** `--input-shape` entries, for both the profile and the partition (they must agree). */
  readonly inputShapes?: readonly string[];
  readonly rttMs: number;
  readonly maxPayloadBytes: number;
  readonly runs: number;
}

/** Profiles `spec` on the edge group, partitions it here into `dir`, and returns the manifest. */
export async function buildBenchBundle(edge: CpuQuotaGroup, spec: BundleSpec, dir: string): Promise<BundleManifest> {
  const calib = spec.calibrate
    ? [...CALIB, ...(spec.calibResize === undefined ? [] : ['--calib-resize', String(spec.calibResize)])]
    : [];
  const edgeProfile = `${dir}.edge-profile.json`;
  const runs = ['--runs', String(spec.runs)];
  const shapes = (spec.inputShapes ?? []).flatMap((s) => ['--input-shape', s]);
  await profileInQuota(edge, [spec.modelPath, '--out', edgeProfile, ...runs, ...shapes, ...calib], {
    ...process.env,
    CLEAVE_LOG_LEVEL: 'warn',
  });
  const args = [
    CLEAVE,
    'partition',
    spec.modelPath,
    '--out',
    dir,
    '--model-id',
    spec.id,
    '--edge-profile',
    edgeProfile,
    '--rtt',
    String(spec.rttMs),
    '--max-payload',
    String(spec.maxPayloadBytes),
    '--codecs',
    'f32,f16,int8,u8-deflate,f16-deflate,int8-deflate',
    ...runs,
    ...shapes,
    ...calib,
    '--force',
  ];
  await finished(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] }), `cleave partition ${spec.id}`);
  return parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
}
