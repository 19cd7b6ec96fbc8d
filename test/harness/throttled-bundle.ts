// A bundle profiled as a user would for a slower edge device: `cleave profile` inside the device's CPU-quota group,
// then `cleave partition --edge-profile` here (the cloud side measured unthrottled). The plan then offloads where a
// real gateway would, and an agent in that group measures what the profile says.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { CpuQuotaGroup } from '@cleave/cli';
import { parseBundleManifest } from '@cleave/proto';
import { testPublisher } from './bundle-signing.js';
import type { EdgeBundle } from './edge-fixtures.js';
import { CLEAVE_BIN, runCleave } from './run-cli.js';

/** Options of {@link buildThrottledBundle}. */
export interface ThrottledBundleOptions {
  readonly model: string;
  readonly modelId: string;
  readonly rttMs: number;
  /** Timed runs per stage on each side. @default 5 */
  readonly runs?: number;
}

/** Profiles `options.model` on the `edge` group, partitions and signs it into `dir`. */
export async function buildThrottledBundle(
  edge: CpuQuotaGroup,
  dir: string,
  options: ThrottledBundleOptions,
): Promise<EdgeBundle> {
  const edgeProfile = `${dir}.edge-profile.json`;
  const runs = ['--runs', String(options.runs ?? 5)];
  const child = edge.spawn(process.execPath, [CLEAVE_BIN, 'profile', options.model, '--out', edgeProfile, ...runs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0)
    throw new Error(`cleave profile (edge, ${edge.cores ?? 'unthrottled'} core) exited ${code}: ${stderr}`);
  const result = await runCleave(
    [
      ...['partition', options.model, '--out', dir, '--model-id', options.modelId, '--edge-profile', edgeProfile],
      ...['--rtt', String(options.rttMs), ...runs, '--sign-key', testPublisher().seedFile, '--force'],
    ],
    { timeoutMs: 180_000 },
  );
  if (result.code !== 0) throw new Error(`cleave partition failed (${result.code}): ${result.stderr}`);
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  return { dir, manifest, version: manifest.version };
}
