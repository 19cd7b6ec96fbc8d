import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BundleManifest, isProtocolError, parseBundleManifest } from '@cleave/proto';
import { sha256Hex } from '../hashing.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';

/** File name of the manifest inside a bundle, on disk and in the object store. */
export const MANIFEST_FILE = 'manifest.json';

/** Object metadata key holding a stored file's sha256, so the manifest itself can be checked on read. */
export const SHA256_METADATA_KEY = 'cleave-sha256';

/** A parsed manifest with the exact bytes it came from and their sha256. */
export interface ManifestWithBytes {
  readonly manifest: BundleManifest;
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/** Throws `hash_mismatch` naming `what` unless `bytes` have the expected sha256 (and size, when given). */
export function verifyBytes(what: string, bytes: Uint8Array, expected: { sha256: string; bytes?: number }): void {
  if (expected.bytes !== undefined && bytes.byteLength !== expected.bytes) {
    throw new BundleStoreError(
      BundleStoreErrorCode.HashMismatch,
      `${what} has ${bytes.byteLength} bytes but the manifest lists ${expected.bytes}: the file is corrupted or from another bundle`,
    );
  }
  const actual = sha256Hex(bytes);
  if (actual !== expected.sha256) {
    throw new BundleStoreError(
      BundleStoreErrorCode.HashMismatch,
      `${what} has sha256 ${actual} but ${expected.sha256} was expected: the file is corrupted or from another bundle`,
    );
  }
}

/** Parses manifest bytes; throws `bad_manifest` listing every schema problem, with `where` in the message. */
export function parseManifestBytes(bytes: Uint8Array, where: string): ManifestWithBytes {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new BundleStoreError(
      BundleStoreErrorCode.BadManifest,
      `${where} is not valid UTF-8 JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    return { manifest: parseBundleManifest(json), bytes, sha256: sha256Hex(bytes) };
  } catch (error) {
    if (!isProtocolError(error)) throw error;
    throw new BundleStoreError(BundleStoreErrorCode.BadManifest, `${where}: ${error.message}`, { cause: error });
  }
}

/** Throws `manifest_mismatch` unless the manifest describes exactly (`model`, `version`). */
export function assertManifestIdentity(manifest: BundleManifest, model: string, version: string, where: string): void {
  if (manifest.model.id !== model || manifest.version !== version) {
    throw new BundleStoreError(
      BundleStoreErrorCode.ManifestMismatch,
      `${where} describes ${manifest.model.id}@${manifest.version}, not ${model}@${version}: refusing to mix versions`,
    );
  }
}

/** Reads and validates `dir/manifest.json`. */
export async function readLocalManifest(dir: string): Promise<ManifestWithBytes> {
  const path = join(dir, MANIFEST_FILE);
  return parseManifestBytes(await readLocal(path), path);
}

/** Reads one bundle file from `dir` and checks it against the manifest entry for `relPath`. */
export async function readVerifiedLocalFile(
  dir: string,
  manifest: BundleManifest,
  relPath: string,
): Promise<Uint8Array> {
  const entry = manifest.files[relPath];
  if (entry === undefined) {
    throw new BundleStoreError(BundleStoreErrorCode.BadManifest, `${relPath} is not listed in the manifest's files`);
  }
  const path = join(dir, relPath);
  const bytes = await readLocal(path);
  verifyBytes(path, bytes, entry);
  return bytes;
}

/**
 * Checks a whole local bundle: the manifest parses and every listed file has its sha256 and size. Reads one file
 * at a time so a large bundle never sits in memory whole. Returns the manifest.
 */
export async function verifyLocalBundle(dir: string): Promise<ManifestWithBytes> {
  const manifest = await readLocalManifest(dir);
  for (const relPath of Object.keys(manifest.manifest.files)) {
    await readVerifiedLocalFile(dir, manifest.manifest, relPath);
  }
  return manifest;
}

async function readLocal(path: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BundleStoreError(
      code === 'ENOENT' ? BundleStoreErrorCode.NotFound : BundleStoreErrorCode.Io,
      `cannot read ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
