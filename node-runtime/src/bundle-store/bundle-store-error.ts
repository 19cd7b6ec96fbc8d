import { CodedError, codedErrorGuard } from '@cleave/proto';

/** Why a bundle could not be published, fetched or read. */
export const BundleStoreErrorCode = {
  /** The model, version or file is not in the store (or the bucket does not exist yet). */
  NotFound: 'not_found',
  /** A file's bytes do not hash to the sha256 the manifest lists (or the manifest to the expected sha256). */
  HashMismatch: 'hash_mismatch',
  /** manifest.json is missing, not JSON, or fails the schema. */
  BadManifest: 'bad_manifest',
  /** The manifest names another model or version than the one requested or stored under. */
  ManifestMismatch: 'manifest_mismatch',
  /** The version is already published with different content; versions are immutable. */
  VersionConflict: 'version_conflict',
  /** A candidate needs files this copy of the bundle does not hold: the agent fetched only some of its files. */
  NotFetched: 'not_fetched',
  /** The fetch was aborted by its signal (e.g. the wanted version changed); nothing partial was kept. */
  Cancelled: 'cancelled',
  /** The manifest is not signed, and unsigned bundles are not allowed (`bundles.allowUnsigned`). */
  Unsigned: 'unsigned',
  /** The manifest is signed by a key that is not among `bundles.trustedPublishers`. */
  UntrustedPublisher: 'untrusted_publisher',
  /** The manifest's signature does not match its content: it was changed after it was signed. */
  BadSignature: 'bad_signature',
  /** The manifest's version is not the one its content derives (`contentVersion`): it was changed after versioning. */
  ContentMismatch: 'content_mismatch',
  /** A signing key file is missing, unreadable or not a publisher seed. */
  BadSigningKey: 'bad_signing_key',
  /** A local file could not be read or written, or NATS failed. */
  Io: 'io',
} as const;
/** One of {@link BundleStoreErrorCode}. */
export type BundleStoreErrorCode = (typeof BundleStoreErrorCode)[keyof typeof BundleStoreErrorCode];

/** A bundle store failure. The message names the model, version and file concerned. */
export class BundleStoreError extends CodedError<BundleStoreErrorCode> {
  override readonly name = 'BundleStoreError';
}

/** True for a {@link BundleStoreError}, optionally with the given code. */
export const isBundleStoreError = codedErrorGuard(BundleStoreError);
