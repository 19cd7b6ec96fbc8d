import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BundleManifest } from '@cleave/proto';
import { MANIFEST_FILE, verifyLocalBundle } from './bundle-files.js';
import { type BundleStoreOptions, createBundleReader } from './bundle-reader.js';
import { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store-error.js';

/** Options of {@link fetchBundle}. */
export interface FetchBundleOptions extends BundleStoreOptions {
  /** sha256 the manifest must have, e.g. from a bundle announcement. */
  readonly expectedManifestSha256?: string;
}

/** A bundle fetched to disk. */
export interface FetchedBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly manifestSha256: string;
  /** Bytes written (0 when an identical, intact copy was already there). */
  readonly bytesWritten: number;
  /** True when `dir` already held this exact bundle, intact, and nothing was downloaded. */
  readonly reused: boolean;
}

/**
 * Downloads (model, version) into `destDir`, verifying the manifest and every file's sha256 first. Files go to a
 * hidden sibling directory that is renamed into place only when complete, so `destDir` is never partial. An
 * intact copy already in `destDir` is kept. Throws BundleStoreError (`not_found`, `hash_mismatch`,
 * `bad_manifest`, `manifest_mismatch`, `io`).
 */
export async function fetchBundle(
  nc: NatsConnection,
  model: string,
  version: string,
  destDir: string,
  options: FetchBundleOptions = {},
): Promise<FetchedBundle> {
  const reader = createBundleReader(nc, options);
  const {
    manifest,
    bytes: manifestBytes,
    sha256,
  } = await reader.readManifest(
    model,
    version,
    options.expectedManifestSha256 === undefined ? {} : { expectedSha256: options.expectedManifestSha256 },
  );
  if (await isIntactCopy(destDir, sha256)) {
    return { dir: destDir, manifest, manifestSha256: sha256, bytesWritten: 0, reused: true };
  }
  const staging = join(dirname(destDir), `.${basename(destDir)}.partial-${randomBytes(4).toString('hex')}`);
  let bytesWritten = 0;
  try {
    await mkdir(staging, { recursive: true });
    for (const path of Object.keys(manifest.files)) {
      const bytes = await reader.readFile(model, version, path, manifest);
      await mkdir(dirname(join(staging, path)), { recursive: true });
      await writeFile(join(staging, path), bytes);
      bytesWritten += bytes.byteLength;
    }
    // The manifest goes last: a directory with a manifest is a directory with every file.
    await writeFile(join(staging, MANIFEST_FILE), manifestBytes);
    bytesWritten += manifestBytes.byteLength;
    await replaceDir(staging, destDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (isBundleStoreError(error)) throw error;
    throw new BundleStoreError(
      BundleStoreErrorCode.Io,
      `cannot write bundle ${model}@${version} to ${destDir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { dir: destDir, manifest, manifestSha256: sha256, bytesWritten, reused: false };
}

async function isIntactCopy(dir: string, manifestSha256: string): Promise<boolean> {
  try {
    await access(join(dir, MANIFEST_FILE));
  } catch {
    return false;
  }
  try {
    return (await verifyLocalBundle(dir)).sha256 === manifestSha256;
  } catch {
    return false; // a damaged or different copy is replaced
  }
}

async function replaceDir(staging: string, destDir: string): Promise<void> {
  try {
    await rename(staging, destDir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  const old = `${staging}.old`;
  await rename(destDir, old);
  await rename(staging, destDir);
  await rm(old, { recursive: true, force: true });
}
