import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  assertToken,
  blobObjectName,
  type BundleManifest,
  bucketNames,
  bundleObjectName,
  DEFAULT_SUBJECT_PREFIX,
} from '@cleave/proto';
import {
  assertManifestIdentity,
  MANIFEST_FILE,
  type ManifestWithBytes,
  parseManifestBytes,
  SHA256_METADATA_KEY,
  verifyBytes,
} from './bundle-files.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';
import {
  ioError,
  isStreamNotFound,
  openCurrentKv,
  openObjectStore,
  readObject,
  type ReadObjectOptions,
  readObjectPulled,
} from './store-buckets.js';

/**
 * Options of {@link BundleReader.readFile}: `signal` cancels the read; with `onChunk` each chunk is pulled from
 * the store only after `onChunk` returned for the previous one, so a pacer that waits there paces the link.
 */
export type ReadFileOptions = ReadObjectOptions;

/** Options shared by every bundle-store call. */
export interface BundleStoreOptions {
  /**
   * Subject prefix; the buckets are `${prefix}_bundles` and `${prefix}_current`.
   * @default 'cleave'
   */
  readonly prefix?: string;
}

/** Options of {@link BundleReader.readManifest}. */
export interface ReadManifestOptions {
  /** sha256 the manifest must have, e.g. from a bundle announcement. */
  readonly expectedSha256?: string;
}

/** Read side of the bundle store, holding its bucket handles open. Every byte it returns has been verified. */
export interface BundleReader {
  readonly prefix: string;
  /** The manifest of (model, version); checks its stored sha256 and that it describes exactly that pair. */
  readManifest(model: string, version: string, options?: ReadManifestOptions): Promise<ManifestWithBytes>;
  /**
   * One bundle file (e.g. a tail ONNX), checked against the manifest's sha256 and size: the blob `blobs/<sha256>`,
   * or, for a bundle published by an earlier release, `<model>/<version>/<path>`.
   */
  readFile(
    model: string,
    version: string,
    path: string,
    manifest?: BundleManifest,
    options?: ReadFileOptions,
  ): Promise<Uint8Array>;
  /** The version the KV marks current for `model`, or undefined when the model was never published. */
  currentVersion(model: string): Promise<string | undefined>;
}

/** Creates a {@link BundleReader}. Missing buckets are looked up again on each call until they exist. */
export function createBundleReader(nc: NatsConnection, options: BundleStoreOptions = {}): BundleReader {
  const prefix = assertToken(options.prefix ?? DEFAULT_SUBJECT_PREFIX, 'prefix');
  let objectStore: ObjectStore | undefined;
  let kv: KV | undefined;

  async function store(what: string): Promise<ObjectStore> {
    objectStore ??= await openObjectStore(nc, prefix, false);
    if (objectStore === undefined) {
      throw new BundleStoreError(
        BundleStoreErrorCode.NotFound,
        `${what} is not in the store: nothing has been published under prefix "${prefix}" yet`,
      );
    }
    return objectStore;
  }

  async function readManifest(
    model: string,
    version: string,
    readOptions: ReadManifestOptions = {},
  ): Promise<ManifestWithBytes> {
    const name = bundleObjectName(model, version, MANIFEST_FILE);
    const stored = await readObject(await store(`bundle ${model}@${version}`), name);
    if (stored === undefined) {
      throw new BundleStoreError(BundleStoreErrorCode.NotFound, `bundle ${model}@${version} is not in the store`);
    }
    // The publisher records the manifest's sha256 beside it, which catches an object replaced by other bytes.
    const recorded = stored.metadata[SHA256_METADATA_KEY];
    if (recorded !== undefined) verifyBytes(`stored object ${name}`, stored.bytes, { sha256: recorded });
    if (readOptions.expectedSha256 !== undefined) {
      verifyBytes(`stored object ${name}`, stored.bytes, { sha256: readOptions.expectedSha256 });
    }
    const parsed = parseManifestBytes(stored.bytes, `stored object ${name}`);
    assertManifestIdentity(parsed.manifest, model, version, `stored object ${name}`);
    return parsed;
  }

  async function readFile(
    model: string,
    version: string,
    path: string,
    manifest?: BundleManifest,
    readOptions: ReadFileOptions = {},
  ): Promise<Uint8Array> {
    const bucket = bucketNames(prefix).bundles;
    const read = (os: ObjectStore, name: string) =>
      readOptions.onChunk === undefined
        ? readObject(os, name, readOptions)
        : readObjectPulled(nc, os, bucket, name, readOptions);
    const m = manifest ?? (await readManifest(model, version)).manifest;
    assertManifestIdentity(m, model, version, `manifest passed for ${path}`);
    const entry = m.files[path];
    if (entry === undefined) {
      throw new BundleStoreError(BundleStoreErrorCode.NotFound, `bundle ${model}@${version} has no file ${path}`);
    }
    // Content-addressed first (every bundle this release publishes), then the per-version name older releases
    // published under. Either way only bytes with the manifest's sha256 and size are returned.
    const os = await store(`bundle ${model}@${version}`);
    const blobName = blobObjectName(entry.sha256);
    const blob = await read(os, blobName);
    let rejected: BundleStoreError | undefined;
    if (blob !== undefined) {
      try {
        verifyBytes(`stored object ${blobName} for ${model}@${version} ${path}`, blob.bytes, entry);
        return blob.bytes;
      } catch (error) {
        if (!(error instanceof BundleStoreError)) throw error;
        rejected = error; // a damaged blob: the per-version copy, when there is one, may still be intact
      }
    }
    const name = bundleObjectName(model, version, path);
    const stored = await read(os, name);
    if (stored === undefined) {
      if (rejected !== undefined) throw rejected;
      throw new BundleStoreError(
        BundleStoreErrorCode.NotFound,
        `bundle ${model}@${version} lists ${path} but the store has neither ${blobName} nor ${name}: ` +
          'the upload is incomplete',
      );
    }
    verifyBytes(`stored object ${name}`, stored.bytes, entry);
    return stored.bytes;
  }

  async function currentVersion(model: string): Promise<string | undefined> {
    assertToken(model, 'model');
    try {
      kv ??= await openCurrentKv(nc, prefix, false);
      const entry = await kv.get(model);
      return entry === null || entry.operation !== 'PUT' ? undefined : entry.string();
    } catch (error) {
      if (isStreamNotFound(error)) {
        kv = undefined;
        return undefined;
      }
      throw error instanceof BundleStoreError ? error : ioError(`cannot read the current version of ${model}`, error);
    }
  }

  return { prefix, readManifest, readFile, currentVersion };
}

/** Reads one verified bundle file from the store without writing anything to disk. */
export function readBundleFile(
  nc: NatsConnection,
  model: string,
  version: string,
  path: string,
  options: BundleStoreOptions = {},
): Promise<Uint8Array> {
  return createBundleReader(nc, options).readFile(model, version, path);
}

/** The version currently marked live for `model`, or undefined when it was never published. */
export function currentVersion(
  nc: NatsConnection,
  model: string,
  options: BundleStoreOptions = {},
): Promise<string | undefined> {
  return createBundleReader(nc, options).currentVersion(model);
}
