// Profiles of one bundle reused for a variant of the same graph. Two noisy 1-run profiles can keep different split
// candidates, so a split pinned or tested in one version may be missing from the next; partitioning the variant
// with the first bundle's measured profiles (re-addressed to the variant's sha256) keeps the same candidates.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `--edge-profile F --cloud-profile F` for partitioning `modelPath` into `outDir` with `fromBundleDir`'s profiles. */
export async function reusedProfileArgs(fromBundleDir: string, modelPath: string, outDir: string): Promise<string[]> {
  const sha256 = createHash('sha256')
    .update(await readFile(modelPath))
    .digest('hex');
  await mkdir(join(outDir, '..'), { recursive: true });
  const args: string[] = [];
  for (const role of ['edge', 'cloud'] as const) {
    const profile = JSON.parse(await readFile(join(fromBundleDir, 'profiles', `${role}.json`), 'utf8')) as {
      model: { sha256: string };
    };
    profile.model.sha256 = sha256;
    const file = `${outDir}.${role}-profile.json`;
    await writeFile(file, JSON.stringify(profile));
    args.push(`--${role}-profile`, file);
  }
  return args;
}
