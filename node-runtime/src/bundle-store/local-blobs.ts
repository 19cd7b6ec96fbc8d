// A content-addressed directory of bundle files on local disk, `<blobDir>/<sha256>`, and the bundle directories
// built from it. A bundle directory holds hard links to blobs (a copy where the file system has no hard links),
// so versions that share a weights file share its bytes on disk, and a new version downloads only the blobs that
// are not there yet. A blob is trusted only after its sha256 was checked; a corrupted one is removed.
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BundleManifest } from '@cleave/proto';
import { checkLocalFile } from './bundle-files.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** Path of the blob with this sha256 in `blobDir`. */
export function localBlobPath(blobDir: string, sha256: string): string {
  if (!SHA256.test(sha256)) {
    throw new BundleStoreError(BundleStoreErrorCode.BadManifest, `"${sha256.slice(0, 80)}" is not a sha256`);
  }
  return join(blobDir, sha256);
}

/**
 * True when `blobDir` holds an intact blob for `entry`. A blob of the wrong size or sha256 is removed (it is
 * never served, and the next fetch downloads it again).
 */
export async function hasIntactBlob(blobDir: string, entry: { sha256: string; bytes: number }): Promise<boolean> {
  const path = localBlobPath(blobDir, entry.sha256);
  const found = await checkLocalFile(path, entry);
  if (found.state === 'corrupted') await rm(path, { force: true });
  return found.state === 'intact';
}

/** Writes a blob atomically (temporary file, then rename). The caller has verified `bytes`. */
export async function writeBlob(blobDir: string, sha256: string, bytes: Uint8Array): Promise<string> {
  const path = localBlobPath(blobDir, sha256);
  await mkdir(blobDir, { recursive: true });
  const temp = join(blobDir, `.${sha256}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return path;
}

/**
 * Makes `dest` the same file as `src`: a hard link, or a copy where links are not possible (another file system,
 * no permission). Replaces whatever `dest` was, atomically. Returns the bytes written: 0 for a link.
 */
export async function linkOrCopy(src: string, dest: string): Promise<number> {
  await mkdir(dirname(dest), { recursive: true });
  const temp = join(dirname(dest), `.link-${randomBytes(4).toString('hex')}.tmp`);
  let written = 0;
  try {
    try {
      await link(src, temp);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw error;
      await copyFile(src, temp);
      written = (await stat(temp)).size;
    }
    await rename(temp, dest);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return written;
}

/** What {@link checkBundleDir} found in a local bundle directory. */
export interface BundleDirCheck {
  /** Listed files present with the right size and sha256. */
  readonly intact: readonly string[];
  /** Files of `required` that are not there (never fetched, or removed just now as corrupted). */
  readonly missing: readonly string[];
  /** Why each corrupted file was rejected (it has been removed, with its blob when that was corrupted too). */
  readonly corrupted: readonly string[];
}

/**
 * Checks every file `manifest` lists that is present in `dir` (size and sha256, streamed), and that every file
 * of `required` is present. Corrupted files are removed, and so is their blob in `blobDir` when it is corrupted
 * too (a hard link to the same bytes); an intact file whose blob is missing is linked back into `blobDir`.
 */
export async function checkBundleDir(
  dir: string,
  manifest: BundleManifest,
  options: { readonly required: Iterable<string>; readonly blobDir?: string | undefined },
): Promise<BundleDirCheck> {
  const required = new Set(options.required);
  const intact: string[] = [];
  const missing: string[] = [];
  const corrupted: string[] = [];
  for (const [path, entry] of Object.entries(manifest.files)) {
    const full = join(dir, path);
    const found = await checkLocalFile(full, entry);
    if (found.state === 'intact') {
      intact.push(path);
      if (options.blobDir !== undefined) await relinkBlob(options.blobDir, full, entry);
      continue;
    }
    if (found.state === 'corrupted') {
      corrupted.push(found.reason);
      await rm(full, { force: true });
      if (options.blobDir !== undefined) await hasIntactBlob(options.blobDir, entry);
    }
    if (required.has(path)) missing.push(path);
  }
  return { intact, missing, corrupted };
}

// A bundle file that is intact but whose blob is gone gives its bytes back to the blob directory.
async function relinkBlob(blobDir: string, file: string, entry: { sha256: string; bytes: number }): Promise<void> {
  const blob = localBlobPath(blobDir, entry.sha256);
  try {
    await stat(blob);
    return;
  } catch {
    // missing: relink below
  }
  await mkdir(blobDir, { recursive: true });
  await linkOrCopy(file, blob).catch(() => undefined);
}

/**
 * Removes every blob of `blobDir` whose sha256 is not in `keep`, and temporary files left by an interrupted
 * write. Returns the sha256s removed. The caller makes sure no fetch is using the directory meanwhile.
 */
export async function pruneBlobs(blobDir: string, keep: ReadonlySet<string>): Promise<string[]> {
  const entries = await readdir(blobDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of entries) {
    if (SHA256.test(name) && keep.has(name)) continue;
    await rm(join(blobDir, name), { recursive: true, force: true });
    if (SHA256.test(name)) removed.push(name);
  }
  return removed;
}
