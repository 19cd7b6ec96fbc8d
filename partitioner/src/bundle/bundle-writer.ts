import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CodedError, contentVersion } from '@cleave/proto';
import { sha256Hex } from '@cleave/node-runtime';
import { pathExists } from '@cleave/node-runtime';

/** A bundle before it is written: its files by relative path, and a manifest builder that receives their hashes. */
export interface BundleContents {
  /** File producers, called one at a time so only one large sub-model is in memory at once. */
  readonly files: ReadonlyMap<string, () => Uint8Array>;
  /** Builds manifest.json from the bundle version (a stand-in, replaced by the derived one) and per-file hashes. */
  readonly manifest: (version: string, files: Record<string, { sha256: string; bytes: number }>) => unknown;
}

/** Why a bundle directory could not be written. */
export const BundleWriteErrorCode = {
  /** The directory already holds a bundle (and overwriting was not asked for). */
  Exists: 'exists',
  /** The files could not be written. */
  Io: 'io',
} as const;
/** One of {@link BundleWriteErrorCode}. */
export type BundleWriteErrorCode = (typeof BundleWriteErrorCode)[keyof typeof BundleWriteErrorCode];

/** Raised when the bundle directory cannot be written; nothing partial is left behind. */
export class BundleWriteError extends CodedError<BundleWriteErrorCode> {
  override readonly name = 'BundleWriteError';
}

/** Fails early, before any expensive work, when `outDir` exists and may not be replaced. */
export async function assertBundleTarget(outDir: string, force: boolean): Promise<void> {
  if (!force && (await pathExists(outDir))) {
    throw new BundleWriteError(
      BundleWriteErrorCode.Exists,
      `${outDir} already exists; choose another --out or pass --force to replace it`,
    );
  }
}

// The manifest is built before its version exists: the version is derived from the rest of it (contentVersion
// leaves `version` out), so any valid token stands in and is then replaced.
const UNVERSIONED = 'v000000000000';

/**
 * Writes a bundle atomically: everything goes into a hidden sibling directory, which is renamed
 * into place only when complete, so a failed or interrupted run never leaves a partial bundle.
 * Returns the bundle version, derived from the manifest's content (see `contentVersion` in @cleave/proto).
 */
export async function writeBundle(
  outDir: string,
  contents: BundleContents,
  options: { force?: boolean } = {},
): Promise<string> {
  await assertBundleTarget(outDir, options.force ?? false);
  const parent = dirname(outDir);
  const staging = join(parent, `.${basename(outDir)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(parent, { recursive: true });
    await mkdir(staging);
    const hashes: Record<string, { sha256: string; bytes: number }> = {};
    for (const [rel, produce] of contents.files) {
      const bytes = produce();
      await mkdir(dirname(join(staging, rel)), { recursive: true });
      await writeFile(join(staging, rel), bytes);
      hashes[rel] = { sha256: sha256Hex(bytes), bytes: bytes.byteLength };
    }
    const draft = contents.manifest(UNVERSIONED, hashes) as Record<string, unknown>;
    const version = contentVersion(draft, sha256Hex);
    const manifest = { ...draft, version };
    await writeFile(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    if (await pathExists(outDir)) {
      const old = `${staging}.old`;
      await rename(outDir, old);
      await rename(staging, outDir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(staging, outDir);
    }
    return version;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    if (err instanceof BundleWriteError) throw err;
    throw new BundleWriteError(BundleWriteErrorCode.Io, `cannot write bundle ${outDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
