import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BundleManifest } from '@cleave/proto';
import { MANIFEST_FILE, readLocalManifest } from './bundle-files.js';
import { type BundleReader, type BundleStoreOptions, createBundleReader } from './bundle-reader.js';
import { type BundleTrust, verifyManifest } from './bundle-signature.js';
import { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store-error.js';
import { cancelledError, createDownloadPacer, type PacerClock, type RateLimit } from './download-pacer.js';
import { checkBundleDir, hasIntactBlob, linkOrCopy, localBlobPath, writeBlob } from './local-blobs.js';

/** Chooses the files to fetch from a bundle's manifest: bundle-relative paths it lists. */
export type BundleFileSelector = (manifest: BundleManifest) => readonly string[];

/** Options of {@link fetchBundle}. */
export interface FetchBundleOptions extends BundleStoreOptions {
  /** sha256 the manifest must have, e.g. from a bundle announcement. */
  readonly expectedManifestSha256?: string;
  /**
   * Whose manifests to accept: when given, the manifest is verified ({@link verifyManifest}) before any file is
   * downloaded, and a refused one leaves `destDir` as it was. Loaders always pass it. @default no signature check
   */
  readonly trust?: BundleTrust;
  /**
   * The files to fetch (see `candidateFiles` and `filesOfCandidates`); the manifest always comes too. Files not
   * selected are absent from the directory. @default every file the manifest lists
   */
  readonly files?: BundleFileSelector;
  /**
   * A content-addressed directory of files, `<blobDir>/<sha256>`, shared by every bundle fetched with it: files
   * already there (checked) are hard-linked into the bundle instead of downloaded, downloads are kept there.
   */
  readonly blobDir?: string;
  /**
   * Aborts the fetch: the chunk being read is the last, the partial directory is removed, and the fetch rejects
   * with `cancelled`. `destDir` keeps whatever it held before.
   */
  readonly signal?: AbortSignal;
  /**
   * Most bytes per second to read from the store, averaged (a token bucket over the store's ~128 KiB chunks); a
   * function is read again before each chunk, e.g. a share of a live uplink estimate. @default no limit
   */
  readonly maxBytesPerSecond?: RateLimit;
  /** Called as the selected files arrive: bytes in place so far (reused files count at once) of `bytesTotal`. */
  readonly onProgress?: (progress: FetchProgress) => void;
  /** Clock of the pacer (tests). */
  readonly pacerClock?: PacerClock;
}

/** How far a fetch is. */
export interface FetchProgress {
  /** Bytes of the selected files in place: downloaded so far, or taken from disk. */
  readonly bytesDone: number;
  /** Bytes of the selected files (each distinct file once), the manifest aside. */
  readonly bytesTotal: number;
}

/** Byte counts of a fetch. */
export interface FetchStats {
  /** Bytes read from the object store, the manifest included. */
  readonly bytesDownloaded: number;
  /** Bytes written to disk: new blobs, the manifest, copies where a hard link was not possible. */
  readonly bytesWritten: number;
  /** Files read from the object store, the manifest included. */
  readonly filesDownloaded: number;
  /** Files taken from disk (a blob, or the intact copy already in the directory) instead of downloaded. */
  readonly filesReused: number;
}

/** A bundle fetched to disk. */
export interface FetchedBundle extends FetchStats {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly manifestSha256: string;
  /** The files now in `dir` besides the manifest: the selected ones, and any intact one it already held. */
  readonly files: readonly string[];
  /** True when `dir` already held this bundle with every selected file intact, and only the manifest was read. */
  readonly reused: boolean;
}

/**
 * Fetches (model, version) into `destDir`, verifying the manifest and every file's sha256 and size. Only the
 * selected files (`files`, default all) are fetched, and only those not already on disk intact (in `blobDir`, or
 * in `destDir` from an earlier fetch). The directory is built as a hidden sibling and renamed into place when
 * complete, so `destDir` is never partial: a directory with a manifest holds every selected file. Throws
 * BundleStoreError (`not_found`, `hash_mismatch`, `bad_manifest`, `manifest_mismatch`, `io`, `cancelled`, and with
 * `trust` `unsigned`, `untrusted_publisher`, `bad_signature`, `content_mismatch`).
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
  if (options.trust !== undefined) {
    verifyManifest({ manifest, bytes: manifestBytes, sha256 }, options.trust, `bundle ${model}@${version}`);
  }
  const { signal } = options;
  if (signal?.aborted) throw cancelledError(signal, `fetch of ${model}@${version}`);
  const selected = selectFiles(manifest, options.files);
  const transfer = new Transfer(manifest, selected, options);
  const copy = new FileCopier(reader, manifest, options.blobDir, transfer);
  copy.stats.bytesDownloaded += manifestBytes.byteLength;
  copy.stats.filesDownloaded += 1;

  // What destDir already holds of this very bundle is reused; a damaged file there is removed and fetched again.
  let present: readonly string[] = [];
  if ((await localManifestSha256(destDir)) === sha256) {
    const check = await wrapIo(destDir, model, version, () =>
      checkBundleDir(destDir, manifest, { required: selected, blobDir: options.blobDir }),
    );
    present = check.intact;
    for (const path of check.intact) copy.knownAt(path, join(destDir, path));
    if (check.missing.length === 0 && check.corrupted.length === 0) {
      return {
        dir: destDir,
        manifest,
        manifestSha256: sha256,
        files: check.intact,
        reused: true,
        ...copy.stats,
        filesReused: check.intact.length,
      };
    }
  }
  const files = union(manifest, selected, present);
  const staging = join(dirname(destDir), `.${basename(destDir)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(staging, { recursive: true });
    for (const path of files) {
      if (signal?.aborted) throw cancelledError(signal, `fetch of ${model}@${version}`);
      await copy.into(staging, path);
    }
    if (signal?.aborted) throw cancelledError(signal, `fetch of ${model}@${version}`);
    // The manifest goes last: a directory with a manifest is a directory with every selected file.
    await writeFile(join(staging, MANIFEST_FILE), manifestBytes);
    copy.stats.bytesWritten += manifestBytes.byteLength;
    await replaceDir(staging, destDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw asStoreError(error, `cannot write bundle ${model}@${version} to ${destDir}`);
  }
  return { dir: destDir, manifest, manifestSha256: sha256, files, reused: false, ...copy.stats };
}

/**
 * Adds `files` of an already fetched bundle to its directory `dir` (e.g. the files of a candidate an agent did
 * not fetch at first), each verified and renamed into place on its own, so sessions already reading `dir` are
 * never disturbed. Files already there intact are kept. Throws like {@link fetchBundle}.
 */
export async function addBundleFiles(
  nc: NatsConnection,
  dir: string,
  manifest: BundleManifest,
  files: readonly string[],
  options: BundleStoreOptions & { readonly blobDir?: string } = {},
): Promise<FetchStats> {
  const wanted = selectFiles(manifest, () => files);
  const local = await wrapIo(dir, manifest.model.id, manifest.version, () => readLocalManifest(dir));
  if (local.manifest.model.id !== manifest.model.id || local.manifest.version !== manifest.version) {
    throw new BundleStoreError(
      BundleStoreErrorCode.ManifestMismatch,
      `${dir} holds ${local.manifest.model.id}@${local.manifest.version}, not ` +
        `${manifest.model.id}@${manifest.version}: refusing to mix versions`,
    );
  }
  const reader = createBundleReader(nc, options);
  const copy = new FileCopier(reader, manifest, options.blobDir);
  const check = await wrapIo(dir, manifest.model.id, manifest.version, () =>
    checkBundleDir(dir, manifest, { required: wanted, blobDir: options.blobDir }),
  );
  for (const path of check.intact) copy.knownAt(path, join(dir, path));
  try {
    for (const path of check.missing) await copy.into(dir, path);
  } catch (error) {
    throw asStoreError(error, `cannot add files to bundle ${manifest.model.id}@${manifest.version} in ${dir}`);
  }
  return { ...copy.stats, filesReused: copy.stats.filesReused + wanted.length - check.missing.length };
}

// Paces the chunks of a fetch and counts its progress.
class Transfer {
  private done = 0;
  private readonly total: number;
  private readonly counted = new Set<string>();
  private readonly pacer;

  constructor(
    private readonly manifest: BundleManifest,
    selected: readonly string[],
    private readonly options: Pick<FetchBundleOptions, 'signal' | 'maxBytesPerSecond' | 'onProgress' | 'pacerClock'>,
  ) {
    const sizes = new Map(selected.map((path) => [manifest.files[path]!.sha256, manifest.files[path]!.bytes]));
    this.total = [...sizes.values()].reduce((n, x) => n + x, 0);
    this.pacer = createDownloadPacer(options.maxBytesPerSecond, options.pacerClock);
  }

  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  get paced(): boolean {
    return this.options.maxBytesPerSecond !== undefined || this.options.onProgress !== undefined;
  }

  /** A file taken from disk. */
  reused(path: string): void {
    const { sha256, bytes } = this.manifest.files[path]!;
    if (this.counted.has(sha256)) return;
    this.counted.add(sha256);
    this.add(bytes);
  }

  /** A chunk of `path` arrived: report it, then wait until the next fits under the limit. */
  async chunk(bytes: number): Promise<void> {
    this.add(bytes);
    await this.pacer.take(bytes, this.options.signal);
  }

  /** A downloaded file is complete (its chunks were already counted). */
  downloaded(path: string): void {
    this.counted.add(this.manifest.files[path]!.sha256);
  }

  private add(bytes: number): void {
    this.done = Math.min(this.total, this.done + bytes);
    this.options.onProgress?.({ bytesDone: this.done, bytesTotal: this.total });
  }
}

// Puts bundle files in place from the cheapest source: a file on disk already checked to hold the bytes, an
// intact blob, or the object store (the download is kept as a blob when there is a blob directory).
class FileCopier {
  readonly stats = { bytesDownloaded: 0, bytesWritten: 0, filesDownloaded: 0, filesReused: 0 };
  private readonly known = new Map<string, string>();

  constructor(
    private readonly reader: BundleReader,
    private readonly manifest: BundleManifest,
    private readonly blobDir: string | undefined,
    private readonly transfer?: Transfer,
  ) {}

  knownAt(path: string, file: string): void {
    this.known.set(this.manifest.files[path]!.sha256, file);
  }

  async into(dir: string, path: string): Promise<void> {
    const entry = this.manifest.files[path]!;
    const target = join(dir, path);
    let source = this.known.get(entry.sha256);
    if (source === undefined && this.blobDir !== undefined && (await hasIntactBlob(this.blobDir, entry))) {
      source = localBlobPath(this.blobDir, entry.sha256);
    }
    if (source !== undefined) {
      this.stats.bytesWritten += await linkOrCopy(source, target);
      this.stats.filesReused += 1;
      this.transfer?.reused(path);
    } else {
      const { manifest, transfer } = this;
      const bytes = await this.reader.readFile(
        manifest.model.id,
        manifest.version,
        path,
        manifest,
        transfer === undefined
          ? {}
          : {
              signal: transfer.signal,
              ...(transfer.paced ? { onChunk: (n: number) => transfer.chunk(n) } : {}),
            },
      );
      transfer?.downloaded(path);
      this.stats.bytesDownloaded += bytes.byteLength;
      this.stats.filesDownloaded += 1;
      this.stats.bytesWritten += bytes.byteLength;
      if (this.blobDir === undefined) {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, bytes);
      } else {
        const blob = await writeBlob(this.blobDir, entry.sha256, bytes);
        this.stats.bytesWritten += await linkOrCopy(blob, target);
      }
    }
    this.known.set(entry.sha256, target);
  }
}

function selectFiles(manifest: BundleManifest, select: BundleFileSelector | undefined): string[] {
  const chosen = new Set(select === undefined ? Object.keys(manifest.files) : select(manifest));
  for (const path of chosen) {
    if (path === MANIFEST_FILE) continue;
    if (!Object.hasOwn(manifest.files, path)) {
      throw new BundleStoreError(
        BundleStoreErrorCode.NotFound,
        `bundle ${manifest.model.id}@${manifest.version} has no file ${path}`,
      );
    }
  }
  return Object.keys(manifest.files).filter((path) => chosen.has(path));
}

function union(manifest: BundleManifest, a: readonly string[], b: readonly string[]): string[] {
  const all = new Set([...a, ...b]);
  return Object.keys(manifest.files).filter((path) => all.has(path));
}

async function localManifestSha256(dir: string): Promise<string | undefined> {
  try {
    await access(join(dir, MANIFEST_FILE));
    return (await readLocalManifest(dir)).sha256;
  } catch {
    return undefined; // no copy, or a damaged one: it is replaced
  }
}

async function wrapIo<T>(dir: string, model: string, version: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw asStoreError(error, `cannot check bundle ${model}@${version} in ${dir}`);
  }
}

function asStoreError(error: unknown, what: string): BundleStoreError {
  if (isBundleStoreError(error)) return error;
  return new BundleStoreError(BundleStoreErrorCode.Io, `${what}: ${(error as Error).message}`, { cause: error });
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
