// What makes a bundle's manifest trustworthy: its canonical bytes, the version derived from them, and the shape of
// the publisher's signature over them. Shared by the partitioner (which versions), the publisher (which signs), and
// every loader (which recomputes and verifies). Hashing and Ed25519 live in @cleave/node-runtime; this package has
// no `node:` imports, so the sha256 is passed in.
import { z } from 'zod';
import type { ConfigEnvSpec } from './layered-config.js';

/** Manifest fields the canonical bytes leave out: the signature cannot sign itself. */
const SIGNATURE_FIELD = 'signature';
/** Left out of the bytes the version hashes: the version cannot hash itself. */
const VERSION_FIELD = 'version';

/** A publisher public key: an Ed25519 nkey of the account kind (`A` and 55 base32 characters). */
export const PUBLISHER_KEY_PATTERN = /^A[A-Z2-7]{55}$/;
const PUBLISHER_KEY_RULE = 'must be a publisher public key: "A" and 55 base32 characters (cleave keys new prints one)';

/** A publisher public key, as configured or as named in a signature. */
export const PublisherKeySchema = z.string().regex(PUBLISHER_KEY_PATTERN, PUBLISHER_KEY_RULE);

/**
 * A publisher's signature of a manifest: the signing key's public key and the Ed25519 signature (64 bytes,
 * base64url without padding) of {@link manifestSigningBytes}.
 */
export const BundleSignatureSchema = z.strictObject({
  publicKey: PublisherKeySchema,
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a 64-byte Ed25519 signature in base64url (86 characters)'),
});
/** A publisher's signature of a manifest. */
export type BundleSignature = z.infer<typeof BundleSignatureSchema>;

/**
 * One trusted publisher in an agent's or replica's config: its public key, or the key with a name shown in logs
 * and the console (`{ publicKey, name }`). Several may be listed, so a key can be rotated without downtime.
 */
export const TrustedPublisherSchema = z
  .union([PublisherKeySchema, z.strictObject({ publicKey: PublisherKeySchema, name: z.string().min(1).max(128) })])
  .transform((entry): { publicKey: string; name?: string } =>
    typeof entry === 'string' ? { publicKey: entry } : entry,
  );
/** A trusted publisher, normalised to an object. */
export type TrustedPublisher = z.output<typeof TrustedPublisherSchema>;

/**
 * The `bundles` config fields of every loader (edge agent, cloud replica): whose bundles to load. With no trusted
 * publisher and `allowUnsigned` false, every bundle is refused.
 */
export const bundleTrustFields = {
  /** Public keys of the publishers whose signed bundles may be loaded. */
  trustedPublishers: z.array(TrustedPublisherSchema).default([]),
  /**
   * Development only: load unsigned bundles and bundles signed by a key not listed above (a bad signature is still
   * refused). Logged as a warning at every start. @default false
   */
  allowUnsigned: z.boolean().default(false),
};

/** Environment variables for {@link bundleTrustFields} under `bundles` (keys comma-separated). */
export const BUNDLE_TRUST_CONFIG_ENV: Readonly<Record<string, ConfigEnvSpec>> = Object.freeze({
  CLEAVE_TRUSTED_PUBLISHERS: { path: 'bundles.trustedPublishers', kind: 'list' },
  CLEAVE_ALLOW_UNSIGNED_BUNDLES: { path: 'bundles.allowUnsigned', kind: 'boolean' },
});

/**
 * RFC 8785 (JCS) canonical JSON of JSON data: object keys sorted by UTF-16 code units, no whitespace, numbers and
 * strings as `JSON.stringify` writes them (which is what JCS specifies). `undefined` members are left out.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function canonicalBytesWithout(manifest: object, fields: readonly string[]): Uint8Array {
  const rest = Object.fromEntries(Object.entries(manifest).filter(([key]) => !fields.includes(key)));
  return new TextEncoder().encode(canonicalJson(rest));
}

/** The bytes a publisher signs: the manifest as JSON data (parsed `manifest.json`) without `signature`, canonical. */
export function manifestSigningBytes(manifest: object): Uint8Array {
  return canonicalBytesWithout(manifest, [SIGNATURE_FIELD]);
}

/**
 * A bundle's version from its content: `v` and the first 12 hex digits of the sha256 of the canonical manifest
 * without `version` and `signature`. The manifest lists every file's sha256, so the version covers every byte of
 * the bundle; and it covers the plan and exit thresholds, so a recalibration is a new version even when no file
 * changed. The same content always gets the same version, whoever signs it. 48 bits identify, they do not protect:
 * the signature covers the full bytes.
 */
export function contentVersion(manifest: object, sha256Hex: (bytes: Uint8Array) => string): string {
  return `v${sha256Hex(canonicalBytesWithout(manifest, [SIGNATURE_FIELD, VERSION_FIELD])).slice(0, 12)}`;
}
