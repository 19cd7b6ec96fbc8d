import type { NatsConnection } from '@nats-io/transport-node';
import {
  assertToken,
  type BundleAnnouncement,
  bundleAnnounceSubject,
  bundleObjectName,
  DEFAULT_SUBJECT_PREFIX,
  encodeMessage,
  PROTOCOL_VERSION,
} from '@cleave/proto';
import { MANIFEST_FILE, readVerifiedLocalFile, SHA256_METADATA_KEY, verifyLocalBundle } from './bundle-files.js';
import { sha256Hex } from '../hashing.js';
import type { BundleStoreOptions } from './bundle-reader.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';
import { ioError, openCurrentKv, openObjectStore, readObject } from './store-buckets.js';

/** Options of {@link publishBundle}. */
export interface PublishBundleOptions extends BundleStoreOptions {
  /**
   * Also mark this version current in KV (the rollout switch) and announce it.
   * @default true
   */
  readonly makeCurrent?: boolean;
  /** Called after each file is uploaded, for progress output. */
  readonly onFile?: (path: string, bytes: number) => void;
  /** Clock for `publishedAt`. @default Date.now */
  readonly now?: () => number;
}

/** What {@link publishBundle} stored. */
export interface PublishedBundle {
  readonly model: string;
  readonly version: string;
  readonly manifestSha256: string;
  /** Files uploaded, manifest included. */
  readonly files: number;
  readonly bytes: number;
  /** The announcement published on `${prefix}.bundle.${model}`, or undefined when `makeCurrent` was false. */
  readonly announcement: BundleAnnouncement | undefined;
}

/**
 * Publishes a bundle directory: verifies every file against the manifest before uploading anything (a corrupted
 * local bundle is rejected whole), uploads the files and then the manifest to the `${prefix}_bundles` object
 * store, sets `${prefix}_current[model] = version` and announces it. Versions are immutable: republishing the same
 * content is a no-op upload, other content under a published version is `version_conflict`.
 */
export async function publishBundle(
  nc: NatsConnection,
  dir: string,
  options: PublishBundleOptions = {},
): Promise<PublishedBundle> {
  const prefix = assertToken(options.prefix ?? DEFAULT_SUBJECT_PREFIX, 'prefix');
  const local = await verifyLocalBundle(dir);
  const { manifest } = local;
  const model = manifest.model.id;
  const version = manifest.version;

  const store = await openObjectStore(nc, prefix, true);
  if (store === undefined) throw new BundleStoreError(BundleStoreErrorCode.Io, 'object store could not be created');
  const manifestName = bundleObjectName(model, version, MANIFEST_FILE);
  const existing = await readObject(store, manifestName);
  if (existing !== undefined && sha256Hex(existing.bytes) !== local.sha256) {
    throw new BundleStoreError(
      BundleStoreErrorCode.VersionConflict,
      `${model}@${version} is already published with a different manifest (sha256 ${sha256Hex(existing.bytes)}, ` +
        `local ${local.sha256}): versions are immutable, publish the new content under a new version`,
    );
  }

  let bytes = 0;
  const upload = async (path: string, data: Uint8Array): Promise<void> => {
    const name = bundleObjectName(model, version, path);
    try {
      await store.putBlob({ name, metadata: { [SHA256_METADATA_KEY]: sha256Hex(data) } }, data);
    } catch (error) {
      throw ioError(`cannot upload ${name}`, error);
    }
    bytes += data.byteLength;
    options.onFile?.(path, data.byteLength);
  };
  for (const path of Object.keys(manifest.files)) {
    // Read and verified again: what is uploaded is exactly what was checked, even if the directory changed.
    await upload(path, await readVerifiedLocalFile(dir, manifest, path));
  }
  // The manifest goes last, so a reader that finds it finds every file it lists.
  await upload(MANIFEST_FILE, local.bytes);

  let announcement: BundleAnnouncement | undefined;
  if (options.makeCurrent ?? true) {
    const kv = await openCurrentKv(nc, prefix, true);
    try {
      await kv.put(model, version);
    } catch (error) {
      throw ioError(`cannot set the current version of ${model}`, error);
    }
    announcement = {
      kind: 'bundle',
      v: PROTOCOL_VERSION,
      model,
      version,
      manifestSha256: local.sha256,
      publishedAt: (options.now ?? Date.now)(),
    };
    nc.publish(bundleAnnounceSubject(prefix, model), encodeMessage(announcement));
    await nc.flush();
  }
  return {
    model,
    version,
    manifestSha256: local.sha256,
    files: Object.keys(manifest.files).length + 1,
    bytes,
    announcement,
  };
}
