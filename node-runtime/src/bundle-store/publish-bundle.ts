import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  assertToken,
  blobObjectName,
  type BundleAnnouncement,
  bundleAnnounceSubject,
  bundleObjectName,
  DEFAULT_SUBJECT_PREFIX,
  encodeMessage,
  PROTOCOL_VERSION,
} from '@cleave/proto';
import { MANIFEST_FILE, readVerifiedLocalFile, SHA256_METADATA_KEY, verifyLocalBundle } from './bundle-files.js';
import { signManifestBytes } from './bundle-signature.js';
import { sha256Hex } from '../hashing.js';
import type { BundleStoreOptions } from './bundle-reader.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';
import { ioError, openCurrentKv, openObjectStore, readObject } from './store-buckets.js';

/**
 * Object chunk size of bundle files. An agent pulls one chunk at a time and paces the pulls, but each chunk crosses
 * its link as one burst, and offload replies, PubAcks and the next pull queue behind it on the same connection: 16
 * KiB is 119 ms at 1.1 Mbps (the 128 KiB default was 953 ms, which doubled offload p95 during a rollout).
 */
const BUNDLE_CHUNK_BYTES = 16 * 1024;

/** Options of {@link publishBundle}. */
export interface PublishBundleOptions extends BundleStoreOptions {
  /**
   * Also mark this version current in KV (the rollout switch) and announce it.
   * @default true
   */
  readonly makeCurrent?: boolean;
  /**
   * A publisher seed (see `readPublisherSeed`): the manifest is uploaded signed by it (the directory is not
   * changed). Without it the manifest goes as it is, signed or not.
   */
  readonly signingKey?: string;
  /** Called after each file is uploaded, for progress output (not for files the store already holds). */
  readonly onFile?: (path: string, bytes: number) => void;
  /** Clock for `publishedAt`. @default Date.now */
  readonly now?: () => number;
}

/** What {@link publishBundle} stored. */
export interface PublishedBundle {
  readonly model: string;
  readonly version: string;
  readonly manifestSha256: string;
  /** Public key of the publisher whose signature the uploaded manifest carries; undefined when it is unsigned. */
  readonly signedBy: string | undefined;
  /** Files in the bundle, manifest included. */
  readonly files: number;
  /** Bytes uploaded: the manifest and the blobs the store did not hold yet. */
  readonly bytes: number;
  /** Objects uploaded: blobs the store did not hold yet, and the manifest unless it was already published. */
  readonly uploaded: number;
  /** Distinct files the store already held under `blobs/<sha256>` (e.g. weights shared with an earlier version). */
  readonly reused: number;
  /** Bytes of those files, which were not uploaded again. */
  readonly bytesReused: number;
  /** The announcement published on `${prefix}.bundle.${model}`, or undefined when `makeCurrent` was false. */
  readonly announcement: BundleAnnouncement | undefined;
}

/**
 * Publishes a bundle directory: verifies every file against the manifest before uploading anything (a corrupted
 * local bundle is rejected whole), signs the manifest when given `signingKey`, uploads each file as the
 * content-addressed object `blobs/<sha256>` unless the store already holds it (a version that changes only its manifest uploads only the manifest), then the manifest
 * as `<model>/<version>/manifest.json`, sets `${prefix}_current[model] = version` and announces it. Versions are
 * immutable: republishing the same content uploads nothing new, other content under a published version is
 * `version_conflict`.
 */
export async function publishBundle(
  nc: NatsConnection,
  dir: string,
  options: PublishBundleOptions = {},
): Promise<PublishedBundle> {
  const prefix = assertToken(options.prefix ?? DEFAULT_SUBJECT_PREFIX, 'prefix');
  const verified = await verifyLocalBundle(dir);
  const local =
    options.signingKey === undefined
      ? verified
      : signManifestBytes(verified.bytes, options.signingKey, `${dir}/${MANIFEST_FILE}`);
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
  let uploaded = 0;
  let reused = 0;
  let bytesReused = 0;
  const upload = async (name: string, path: string, data: Uint8Array): Promise<void> => {
    try {
      await store.putBlob(
        { name, metadata: { [SHA256_METADATA_KEY]: sha256Hex(data) }, options: { max_chunk_size: BUNDLE_CHUNK_BYTES } },
        data,
      );
    } catch (error) {
      throw ioError(`cannot upload ${name}`, error);
    }
    bytes += data.byteLength;
    uploaded += 1;
    options.onFile?.(path, data.byteLength);
  };
  const seen = new Set<string>();
  for (const [path, entry] of Object.entries(manifest.files)) {
    if (seen.has(entry.sha256)) continue; // two paths with the same bytes are one blob
    seen.add(entry.sha256);
    const name = blobObjectName(entry.sha256);
    if (await holdsBlob(store, name, entry)) {
      reused += 1;
      bytesReused += entry.bytes;
      continue;
    }
    // Read and verified again: what is uploaded is exactly what was checked, even if the directory changed.
    await upload(name, path, await readVerifiedLocalFile(dir, manifest, path));
  }
  // The manifest goes last, so a reader that finds it finds every file it lists.
  if (existing === undefined) await upload(manifestName, MANIFEST_FILE, local.bytes);

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
    signedBy: manifest.signature?.publicKey,
    files: Object.keys(manifest.files).length + 1,
    bytes,
    uploaded,
    reused,
    bytesReused,
    announcement,
  };
}

/**
 * True when the store holds `name` with exactly these bytes, as recorded when it was put: its size, and the
 * sha256 the object store computed while uploading (its `digest`), or the one the publisher recorded beside it.
 * Readers check every byte again, so a blob that lies about itself is rejected there, never served.
 */
async function holdsBlob(store: ObjectStore, name: string, entry: { sha256: string; bytes: number }): Promise<boolean> {
  let info;
  try {
    info = await store.info(name);
  } catch (error) {
    throw ioError(`cannot read object info of ${name}`, error);
  }
  if (info === null || info.deleted || info.size !== entry.bytes) return false;
  const digest = digestHex(info.digest);
  return (digest ?? info.metadata?.[SHA256_METADATA_KEY]) === entry.sha256;
}

// The object store's digest is `SHA-256=<base64url>`; undefined when it is absent or in another form.
function digestHex(digest: string | undefined): string | undefined {
  const match = /^SHA-256=([A-Za-z0-9_\-+/]+=*)$/i.exec(digest ?? '');
  if (match === null) return undefined;
  const hex = Buffer.from(match[1]!, 'base64url').toString('hex');
  return hex.length === 64 ? hex : undefined;
}
