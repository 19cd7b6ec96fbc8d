// Signing and verifying manifests with real Ed25519 nkeys: what each refusal says, and what passes.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, contentVersion, manifestSigningBytes } from '@cleave/proto';
import { syntheticManifest } from '../../edge-agent/tests/synthetic-manifest.js';
import {
  BundleStoreError,
  type BundleTrust,
  createPublisherKey,
  type ManifestWithBytes,
  publisherPublicKey,
  readPublisherSeed,
  sha256Hex,
  signBundleDir,
  signManifest,
  verifyManifest,
} from '../src/mod.js';
import { parseManifestBytes } from '../src/bundle-store/bundle-files.js';

const publisher = createPublisherKey();
const trust: BundleTrust = {
  trustedPublishers: [{ publicKey: publisher.publicKey, name: 'ci' }],
  allowUnsigned: false,
};

/** The synthetic manifest with a content-derived version, as raw JSON. */
function versioned(): Record<string, unknown> {
  const json = JSON.parse(JSON.stringify(syntheticManifest())) as Record<string, unknown>;
  json['version'] = contentVersion(json, sha256Hex);
  return json;
}

function asRead(json: Record<string, unknown>): ManifestWithBytes {
  return parseManifestBytes(new TextEncoder().encode(JSON.stringify(json)), 'manifest.json');
}

function refusal(fn: () => unknown): BundleStoreError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BundleStoreError);
    return error as BundleStoreError;
  }
  throw new Error('expected a refusal');
}

describe('canonical bytes and content version', () => {
  it('sorts keys at every depth and ignores key order and whitespace', () => {
    expect(canonicalJson({ b: [{ z: 1, a: 'x' }], a: null, c: undefined })).toBe('{"a":null,"b":[{"a":"x","z":1}]}');
    const json = versioned();
    const reordered = Object.fromEntries(Object.entries(json).reverse());
    expect(contentVersion(reordered, sha256Hex)).toBe(json['version']);
    expect(manifestSigningBytes(reordered)).toEqual(manifestSigningBytes(json));
  });

  it('changes with any content but not with the version or the signature', () => {
    const json = versioned();
    const version = contentVersion(json, sha256Hex);
    expect(contentVersion({ ...json, version: 'v999999999999', signature: { any: 1 } }, sha256Hex)).toBe(version);
    const plan = json['plan'] as { rttMs: number };
    expect(contentVersion({ ...json, plan: { ...plan, rttMs: plan.rttMs + 1 } }, sha256Hex)).not.toBe(version);
  });
});

describe('verifyManifest', () => {
  it('accepts a manifest signed by a trusted key and names the signer', () => {
    const signed = asRead(signManifest(versioned(), publisher.seed));
    expect(verifyManifest(signed, trust, 'bundle x')).toEqual({
      publicKey: publisher.publicKey,
      name: 'ci',
      trusted: true,
    });
  });

  it('refuses unsigned, untrusted, altered and mis-versioned manifests, each with its code', () => {
    const unsigned = refusal(() => verifyManifest(asRead(versioned()), trust, 'bundle x'));
    expect(unsigned.code).toBe('unsigned');
    expect(unsigned.message).toMatch(/^bundle x is not signed; only bundles signed by ci \(A[A-Z2-7]{55}\) are loaded/);

    const other = createPublisherKey();
    const untrusted = refusal(() => verifyManifest(asRead(signManifest(versioned(), other.seed)), trust, 'bundle x'));
    expect(untrusted.code).toBe('untrusted_publisher');
    expect(untrusted.message).toContain(`signed by ${other.publicKey}, which is not among bundles.trustedPublishers`);

    const altered = signManifest(versioned(), publisher.seed);
    (altered['plan'] as { rttMs: number }).rttMs += 1;
    expect(refusal(() => verifyManifest(asRead(altered), trust, 'bundle x')).code).toBe('bad_signature');

    const stale = versioned();
    (stale['plan'] as { rttMs: number }).rttMs += 1;
    const misVersioned = refusal(() => verifyManifest(asRead(signManifest(stale, publisher.seed)), trust, 'bundle x'));
    expect(misVersioned.code).toBe('content_mismatch');
    expect(misVersioned.message).toMatch(/says version v[0-9a-f]{12} but its content derives v[0-9a-f]{12}/);
  });

  it('with allowUnsigned, lets unsigned and unknown signers through but never a bad signature', () => {
    const dev: BundleTrust = { trustedPublishers: [], allowUnsigned: true };
    expect(verifyManifest(asRead(versioned()), dev, 'bundle x')).toBeUndefined();
    expect(verifyManifest(asRead(signManifest(versioned(), publisher.seed)), dev, 'bundle x')?.trusted).toBe(false);
    const altered = signManifest(versioned(), publisher.seed);
    altered['createdAt'] = new Date(0).toISOString();
    expect(refusal(() => verifyManifest(asRead(altered), dev, 'bundle x')).code).toBe('bad_signature');
  });
});

describe('signing keys', () => {
  it('reads a seed file and signs a bundle directory in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cleave-sign-'));
    await writeFile(join(dir, 'key.nk'), `${publisher.seed}\n`);
    const seed = await readPublisherSeed(join(dir, 'key.nk'));
    expect(publisherPublicKey(seed)).toBe(publisher.publicKey);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(versioned()));
    const signed = await signBundleDir(dir, seed);
    expect(signed.manifest.signature?.publicKey).toBe(publisher.publicKey);
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toHaveProperty('signature.sig');
    expect(verifyManifest(signed, trust, 'bundle x')?.name).toBe('ci');
  });

  it('refuses a missing file, a non-seed and a user seed with bad_signing_key naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cleave-sign-'));
    await expect(readPublisherSeed(join(dir, 'none.nk'))).rejects.toMatchObject({
      code: 'bad_signing_key',
      message: expect.stringContaining(`signing key ${join(dir, 'none.nk')} cannot be read`) as unknown,
    });
    await writeFile(join(dir, 'junk.nk'), 'not a seed\n');
    await expect(readPublisherSeed(join(dir, 'junk.nk'))).rejects.toMatchObject({
      code: 'bad_signing_key',
      message: expect.stringMatching(/junk\.nk is not an nkey seed/) as unknown,
    });
    const { createUser } = await import('@nats-io/nkeys');
    await writeFile(join(dir, 'user.nk'), new TextDecoder().decode(createUser().getSeed()));
    await expect(readPublisherSeed(join(dir, 'user.nk'))).rejects.toMatchObject({
      message: expect.stringMatching(/is a U-type nkey seed; publisher keys are account keys/) as unknown,
    });
  });

  it('refuses to sign a manifest whose version is not its content’s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cleave-sign-'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...versioned(), version: 'v000000000001' }));
    await expect(signBundleDir(dir, publisher.seed)).rejects.toMatchObject({
      code: 'content_mismatch',
      message: expect.stringContaining('refusing to sign it') as unknown,
    });
  });
});
