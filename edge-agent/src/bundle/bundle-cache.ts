// The agent's disk cache: every fetched bundle version, and a pointer to the version each model last served, so
// a restart with no network serves what it served before.
//
//   <cacheDir>/bundles/<model>/<version>/   a whole bundle, written atomically by fetchBundle
//   <cacheDir>/current/<model>.json         { version, manifestSha256, savedAt }
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BundleManifest, isValidToken } from '@cleave/proto';
import { fetchBundle, readLocalManifest } from '@cleave/node-runtime';

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

/** The cache directory of one agent. */
export interface BundleCache {
  readonly root: string;
  /** Directory of (model, version). */
  bundleDir(model: string, version: string): string;
  /** The bundle a model served last, when its pointer and manifest are intact; undefined otherwise. */
  readCurrent(model: string): Promise<CachedBundle | undefined>;
  /** Remembers the version a model now serves. */
  writeCurrent(model: string, bundle: CachedBundle): Promise<void>;
  /** Fetches (model, version) from the object store into the cache (hash-checked; reuses an intact copy). */
  fetch(nc: NatsConnection, model: string, version: string, prefix: string): Promise<CachedBundle>;
  /** Deletes cached versions of `model` other than `keep`. */
  prune(model: string, keep: readonly string[]): Promise<void>;
}

/** Creates the cache rooted at `root` (directories are made on first write). */
export function createBundleCache(root: string): BundleCache {
  const bundleDir = (model: string, version: string) => join(root, 'bundles', model, version);
  const pointerPath = (model: string) => join(root, 'current', `${model}.json`);

  return {
    root,
    bundleDir,
    async readCurrent(model) {
      let pointer: CachePointer;
      try {
        pointer = JSON.parse(await readFile(pointerPath(model), 'utf8')) as CachePointer;
      } catch {
        return undefined;
      }
      if (!isValidToken(pointer.version)) return undefined;
      const dir = bundleDir(model, pointer.version);
      // The manifest is validated and matched to the pointer; every ONNX file is hash-checked when it is loaded.
      const local = await readLocalManifest(dir).catch(() => undefined);
      if (local === undefined) return undefined;
      const { manifest, sha256 } = local;
      if (manifest.model.id !== model || manifest.version !== pointer.version || sha256 !== pointer.manifestSha256) {
        return undefined;
      }
      return { dir, manifest, manifestSha256: sha256 };
    },
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
    async fetch(nc, model, version, prefix) {
      const dir = bundleDir(model, version);
      await mkdir(join(root, 'bundles', model), { recursive: true });
      const fetched = await fetchBundle(nc, model, version, dir, { prefix });
      return { dir, manifest: fetched.manifest, manifestSha256: fetched.manifestSha256 };
    },
    async prune(model, keep) {
      const dir = join(root, 'bundles', model);
      const entries = await readdir(dir).catch(() => [] as string[]);
      await Promise.all(
        entries
          .filter((name) => !keep.includes(name) && !name.startsWith('.'))
          .map((name) => rm(join(dir, name), { recursive: true, force: true })),
      );
    },
  };
}
