// Publisher signatures of bundle manifests, and the one check every loader runs before it uses a manifest.
//
// A publisher holds an Ed25519 nkey seed (`cleave keys new`) and signs the manifest's canonical bytes (see
// `manifestSigningBytes` in @cleave/proto); the signature travels inside manifest.json as `signature`. A loader
// (edge agent, cloud replica) is configured with the public keys it trusts and refuses a manifest that is unsigned,
// signed by another key, signed over other content, or whose version is not the one its content derives. The
// manifest lists every file's sha256 and size, and readers check each file's bytes against it, so a signed manifest
// vouches for every byte of the bundle: whoever can write the object store can no longer swap files under a version.
//
// Account keys (`A…`, seeds `SA…`) rather than user keys: a publisher key signs artifacts for others, as an account
// key signs user JWTs, and never authenticates a NATS connection. A `U…` key would read like a login nkey, and could
// be pasted into accounts.conf as one by mistake.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAccount, fromPublic, fromSeed, type KeyPair } from '@nats-io/nkeys';
import { contentVersion, manifestSigningBytes, type TrustedPublisher } from '@cleave/proto';
import { MANIFEST_FILE, type ManifestWithBytes, parseManifestBytes, readLocalManifest } from './bundle-files.js';
import { sha256Hex } from '../hashing.js';
import { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store-error.js';

/** Whose bundles a loader accepts (the `bundles` section of the edge and cloud configs). */
export interface BundleTrust {
  /** Keys whose signatures are accepted; several, so a key can be rotated. */
  readonly trustedPublishers: readonly TrustedPublisher[];
  /** Development only: also accept unsigned bundles and unknown signers (never a bad signature). */
  readonly allowUnsigned: boolean;
}

/** Who signed a manifest that passed {@link verifyManifest}. */
export interface ManifestSigner {
  readonly publicKey: string;
  /** The name configured for the key, when it has one. */
  readonly name: string | undefined;
  /** False only for a signer accepted because `allowUnsigned` is set. */
  readonly trusted: boolean;
}

const REFUSAL_CODES: ReadonlySet<string> = new Set<BundleStoreErrorCode>([
  BundleStoreErrorCode.Unsigned,
  BundleStoreErrorCode.UntrustedPublisher,
  BundleStoreErrorCode.BadSignature,
  BundleStoreErrorCode.ContentMismatch,
]);

/**
 * True for the errors of {@link verifyManifest}: the manifest is not trusted. Fetching it again cannot help until
 * the store holds another manifest (or the trust changes), so loaders log it and do not retry on a timer.
 */
export function isBundleRefusal(error: unknown): error is BundleStoreError {
  return isBundleStoreError(error) && REFUSAL_CODES.has(error.code);
}

/** A new publisher key pair: the seed (secret, for `--sign-key`) and the public key (for `trustedPublishers`). */
export function createPublisherKey(): { readonly seed: string; readonly publicKey: string } {
  const pair = createAccount();
  return { seed: new TextDecoder().decode(pair.getSeed()), publicKey: pair.getPublicKey() };
}

/** Reads a publisher seed file (as `cleave keys new` writes it); throws `bad_signing_key` naming the file. */
export async function readPublisherSeed(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BundleStoreError(
      BundleStoreErrorCode.BadSigningKey,
      `signing key ${path} cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const seed = text.trim();
  publisherPair(seed, `signing key ${path}`);
  return seed;
}

/** The public key of a publisher seed; throws `bad_signing_key` when it is not one. */
export function publisherPublicKey(seed: string): string {
  return publisherPair(seed, 'signing key').getPublicKey();
}

function publisherPair(seed: string, what: string): KeyPair {
  let pair: KeyPair;
  try {
    pair = fromSeed(new TextEncoder().encode(seed));
  } catch (error) {
    throw new BundleStoreError(
      BundleStoreErrorCode.BadSigningKey,
      `${what} is not an nkey seed (expected "SA" and 56 base32 characters, as cleave keys new writes)`,
      { cause: error },
    );
  }
  if (!pair.getPublicKey().startsWith('A')) {
    throw new BundleStoreError(
      BundleStoreErrorCode.BadSigningKey,
      `${what} is a ${pair.getPublicKey()[0]}-type nkey seed; publisher keys are account keys (SA...): make one with cleave keys new`,
    );
  }
  return pair;
}

/** `json` (a parsed manifest) with its signature by `seed`, replacing any signature it had. */
export function signManifest(json: Record<string, unknown>, seed: string): Record<string, unknown> {
  const pair = publisherPair(seed, 'signing key');
  const sig = Buffer.from(pair.sign(manifestSigningBytes(json))).toString('base64url');
  return { ...json, signature: { publicKey: pair.getPublicKey(), sig } };
}

/**
 * Manifest bytes signed by `seed`, as they are written to manifest.json. The manifest is validated first, and its
 * version must be the one its content derives (`content_mismatch` otherwise): a signature vouches for that version.
 */
export function signManifestBytes(bytes: Uint8Array, seed: string, where: string): ManifestWithBytes {
  const { manifest } = parseManifestBytes(bytes, where);
  const json = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  const derived = contentVersion(json, sha256Hex);
  if (derived !== manifest.version) {
    throw new BundleStoreError(
      BundleStoreErrorCode.ContentMismatch,
      `${where} says version ${manifest.version} but its content derives ${derived}: refusing to sign it ` +
        '(write the bundle again with cleave partition, which versions it)',
    );
  }
  const signed = new TextEncoder().encode(`${JSON.stringify(signManifest(json, seed), null, 2)}\n`);
  return parseManifestBytes(signed, where);
}

/** Signs `dir/manifest.json` in place (atomically), e.g. right after `cleave partition` wrote it. */
export async function signBundleDir(dir: string, seed: string): Promise<ManifestWithBytes> {
  const local = await readLocalManifest(dir);
  const path = join(dir, MANIFEST_FILE);
  const signed = signManifestBytes(local.bytes, seed, path);
  const temp = join(dir, `.${MANIFEST_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, signed.bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new BundleStoreError(BundleStoreErrorCode.Io, `cannot write ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return signed;
}

/**
 * The check every loader runs on a manifest before using it: the signature matches the content and is by a trusted
 * publisher (or unsigned bundles are allowed), and the version is the one the content derives. Returns the signer
 * (undefined for an unsigned bundle let through by `allowUnsigned`). Throws BundleStoreError `unsigned`,
 * `untrusted_publisher`, `bad_signature` or `content_mismatch`, with `where` in the message.
 */
export function verifyManifest(
  manifest: ManifestWithBytes,
  trust: BundleTrust,
  where: string,
): ManifestSigner | undefined {
  // The raw JSON, not the parsed manifest: the schema drops keys it does not know, and the signature covers them.
  const json = JSON.parse(new TextDecoder().decode(manifest.bytes)) as Record<string, unknown>;
  const { signature } = manifest.manifest;
  let signer: ManifestSigner | undefined;
  if (signature === undefined) {
    if (!trust.allowUnsigned) {
      throw new BundleStoreError(
        BundleStoreErrorCode.Unsigned,
        `${where} is not signed; only bundles signed by ${describeTrusted(trust)} are loaded ` +
          '(sign with cleave publish --sign-key, or set bundles.allowUnsigned for development)',
      );
    }
  } else {
    let valid = false;
    try {
      valid = fromPublic(signature.publicKey).verify(
        manifestSigningBytes(json),
        Buffer.from(signature.sig, 'base64url'),
      );
    } catch {
      valid = false; // a key whose checksum is wrong verifies nothing
    }
    if (!valid) {
      throw new BundleStoreError(
        BundleStoreErrorCode.BadSignature,
        `${where} has a signature by ${signature.publicKey} that does not match its content: ` +
          'the manifest was changed after it was signed',
      );
    }
    const known = trust.trustedPublishers.find((p) => p.publicKey === signature.publicKey);
    if (known === undefined && !trust.allowUnsigned) {
      throw new BundleStoreError(
        BundleStoreErrorCode.UntrustedPublisher,
        `${where} is signed by ${signature.publicKey}, which is not among bundles.trustedPublishers ` +
          `(${describeTrusted(trust)})`,
      );
    }
    signer = { publicKey: signature.publicKey, name: known?.name, trusted: known !== undefined };
  }
  const derived = contentVersion(json, sha256Hex);
  if (derived !== manifest.manifest.version) {
    throw new BundleStoreError(
      BundleStoreErrorCode.ContentMismatch,
      `${where} says version ${manifest.manifest.version} but its content derives ${derived}: ` +
        'the manifest was changed after it was versioned',
    );
  }
  return signer;
}

function describeTrusted(trust: BundleTrust): string {
  const keys = trust.trustedPublishers;
  if (keys.length === 0) return 'a trusted publisher, and bundles.trustedPublishers is empty';
  return keys.map((p) => (p.name === undefined ? p.publicKey : `${p.name} (${p.publicKey})`)).join(', ');
}

/**
 * What a loader logs about its trust at every start: a warning when it accepts unsigned bundles (development) or
 * trusts nobody (every bundle will be refused), else the trusted keys.
 */
export function bundleTrustNotice(trust: BundleTrust): {
  readonly level: 'info' | 'warn';
  readonly fields: Record<string, unknown>;
  readonly message: string;
} {
  const fields = {
    event: 'bundle_trust',
    trustedPublishers: trust.trustedPublishers.map((p) => p.name ?? p.publicKey),
    allowUnsigned: trust.allowUnsigned,
  };
  if (trust.allowUnsigned) {
    return {
      level: 'warn',
      fields,
      message:
        'bundles.allowUnsigned is set: UNSIGNED AND UNTRUSTED BUNDLES ARE LOADED; anyone who can write the bundle ' +
        'store can change what this process runs. For development only',
    };
  }
  if (trust.trustedPublishers.length === 0) {
    return {
      level: 'warn',
      fields,
      message:
        'bundles.trustedPublishers is empty: every bundle will be refused; list the publisher public keys (cleave keys new)',
    };
  }
  return { level: 'info', fields, message: 'bundles are loaded only when signed by a trusted publisher' };
}
