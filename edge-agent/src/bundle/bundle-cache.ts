// The agent's disk cache: the files of every fetched bundle version, stored once by content, and a pointer to the
// version each model last served, so a restart with no network serves what it served before.
//
//   <cacheDir>/blobs/<sha256>               every fetched file, once, whatever versions share it
//   <cacheDir>/bundles/<model>/<version>/   a bundle: manifest.json and hard links to the blobs it needs
//   <cacheDir>/current/<model>.json         { version, manifestSha256, savedAt }
//
// A new version downloads only the blobs the cache does not hold: one that changes only its exit thresholds
// downloads only its manifest. Every file is checked (size and sha256) when it is fetched and again when a cached
// version is loaded at start; a damaged one is removed, never served, and fetched again when NATS is reachable.
// Every manifest is verified against the agent's trust (signature, trusted publisher, content version) before any
// file of it is fetched, and again when a cached version is loaded at start (the trust may have changed since).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BundleManifest, isValidToken } from '@cleave/proto';
import {
  addBundleFiles,
  type BundleFileSelector,
  BundleStoreError,
  type BundleTrust,
  BundleStoreErrorCode,
  checkBundleDir,
  fetchBundle,
  type FetchBundleOptions,
  type FetchStats,
  pruneBlobs,
  readLocalManifest,
  verifyManifest,
} from '@cleave/node-runtime';

/** The version a model served last, as remembered on disk. */
export interface CachePointer {
  readonly version: string;
  readonly manifestSha256: string;
  readonly savedAt: string;
}

/** A bundle on disk with its validated manifest. */
export interface CachedBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly manifestSha256: string;
}

/** A bundle just fetched, with what the fetch cost. */
export interface FetchedCachedBundle extends CachedBundle, FetchStats {
  /** The files in `dir` besides the manifest. */
  readonly files: readonly string[];
}

/** How a cache fetch downloads: its cancellation, pacing and progress (see {@link FetchBundleOptions}). */
export type CacheFetchOptions = Pick<FetchBundleOptions, 'signal' | 'maxBytesPerSecond' | 'onProgress'>;

/** The cache directory of one agent. */
export interface BundleCache {
  readonly root: string;
  /** `<root>/blobs`: every cached file, named by its sha256. */
  readonly blobDir: string;
  /** Whose bundles are accepted, fetched or cached. */
  readonly trust: BundleTrust;
  /** Directory of (model, version). */
  bundleDir(model: string, version: string): string;
  /**
   * The bundle a model served last; undefined when there is no pointer or its manifest is gone or another. Every
   * file of the version is checked (size and sha256); throws BundleStoreError (`hash_mismatch`, `not_fetched`)
   * saying which files are damaged or missing when one `select` needs is: damaged files are removed first. Throws
   * the errors of `verifyManifest` when the manifest is no longer trusted.
   */
  readCurrent(model: string, select?: BundleFileSelector): Promise<CachedBundle | undefined>;
  /** Remembers the version a model now serves. */
  writeCurrent(model: string, bundle: CachedBundle): Promise<void>;
  /**
   * Fetches (model, version) from the object store into the cache: the `select`ed files (default all), each
   * downloaded only when no intact blob holds it yet. `transfer` cancels, paces and reports the download.
   */
  fetch(
    nc: NatsConnection,
    model: string,
    version: string,
    prefix: string,
    select?: BundleFileSelector,
    transfer?: CacheFetchOptions,
  ): Promise<FetchedCachedBundle>;
  /** Adds files of a cached bundle that were not fetched with it (e.g. a newly pinned candidate's). */
  addFiles(nc: NatsConnection, bundle: CachedBundle, prefix: string, files: readonly string[]): Promise<FetchStats>;
  /** Deletes cached versions of `model` other than `keep`, then the blobs no cached version lists. */
  prune(model: string, keep: readonly string[]): Promise<void>;
}

/** Creates the cache rooted at `root` (directories are made on first write), accepting bundles `trust` accepts. */
export function createBundleCache(root: string, trust: BundleTrust): BundleCache {
  const blobDir = join(root, 'blobs');
  const bundleDir = (model: string, version: string) => join(root, 'bundles', model, version);
  const pointerPath = (model: string) => join(root, 'current', `${model}.json`);
  // Fetches, checks and pruning take turns: pruning must never remove a blob a fetch has just checked or written.
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn, fn);
    turn = run.catch(() => undefined);
    return run;
  };

  async function readCurrent(model: string, select?: BundleFileSelector): Promise<CachedBundle | undefined> {
    let pointer: CachePointer;
    try {
      pointer = JSON.parse(await readFile(pointerPath(model), 'utf8')) as CachePointer;
    } catch {
      return undefined;
    }
    if (!isValidToken(pointer.version)) return undefined;
    const dir = bundleDir(model, pointer.version);
    const local = await readLocalManifest(dir).catch(() => undefined);
    if (local === undefined) return undefined;
    const { manifest, sha256 } = local;
    if (manifest.model.id !== model || manifest.version !== pointer.version || sha256 !== pointer.manifestSha256) {
      return undefined;
    }
    const where = `cached bundle ${model}@${manifest.version}`;
    verifyManifest(local, trust, where);
    const required = select === undefined ? Object.keys(manifest.files) : select(manifest);
    const check = await exclusive(() => checkBundleDir(dir, manifest, { required, blobDir }));
    if (check.corrupted.length > 0) {
      throw new BundleStoreError(
        BundleStoreErrorCode.HashMismatch,
        `${where} is damaged: ${check.corrupted.join('; ')}; removed, it is fetched again when NATS is reachable`,
      );
    }
    if (check.missing.length > 0) {
      throw new BundleStoreError(
        BundleStoreErrorCode.NotFetched,
        `${where} lacks ${check.missing.join(', ')}; it is fetched again when NATS is reachable`,
      );
    }
    return { dir, manifest, manifestSha256: sha256 };
  }

  // Blobs are kept while any cached version (of any model) lists them.
  async function pruneUnlisted(): Promise<void> {
    const keep = new Set<string>();
    const models = await readdir(join(root, 'bundles')).catch(() => [] as string[]);
    for (const model of models) {
      const versions = await readdir(join(root, 'bundles', model)).catch(() => [] as string[]);
      for (const version of versions.filter((name) => !name.startsWith('.'))) {
        const local = await readLocalManifest(join(root, 'bundles', model, version)).catch(() => undefined);
        for (const entry of Object.values(local?.manifest.files ?? {})) keep.add(entry.sha256);
      }
    }
    await pruneBlobs(blobDir, keep);
  }

  return {
    root,
    blobDir,
    trust,
    bundleDir,
    readCurrent,
    async writeCurrent(model, bundle) {
      const pointer: CachePointer = {
        version: bundle.manifest.version,
        manifestSha256: bundle.manifestSha256,
        savedAt: new Date().toISOString(),
      };
      await mkdir(join(root, 'current'), { recursive: true });
      const temp = `${pointerPath(model)}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(temp, `${JSON.stringify(pointer, null, 2)}\n`);
      await rename(temp, pointerPath(model));
    },
    fetch(nc, model, version, prefix, select, transfer = {}) {
      return exclusive(async () => {
        const dir = bundleDir(model, version);
        await mkdir(join(root, 'bundles', model), { recursive: true });
        const fetched = await fetchBundle(nc, model, version, dir, {
          prefix,
          blobDir,
          trust,
          ...(select === undefined ? {} : { files: select }),
          ...transfer,
        });
        return {
          dir,
          manifest: fetched.manifest,
          manifestSha256: fetched.manifestSha256,
          files: fetched.files,
          bytesDownloaded: fetched.bytesDownloaded,
          bytesWritten: fetched.bytesWritten,
          filesDownloaded: fetched.filesDownloaded,
          filesReused: fetched.filesReused,
        };
      });
    },
    addFiles(nc, bundle, prefix, files) {
      return exclusive(() => addBundleFiles(nc, bundle.dir, bundle.manifest, files, { prefix, blobDir }));
    },
    prune(model, keep) {
      return exclusive(async () => {
        const dir = join(root, 'bundles', model);
        const entries = await readdir(dir).catch(() => [] as string[]);
        await Promise.all(
          entries
            // Hidden entries are what an interrupted fetch left: no fetch runs meanwhile.
            .filter((name) => !keep.includes(name))
            .map((name) => rm(join(dir, name), { recursive: true, force: true })),
        );
        await pruneUnlisted();
      });
    },
  };
}
