import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type BundleManifest, isProtocolError, parseBundleManifest } from '@cleave/proto';
import { sha256Hex } from '../hashing.js';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';
import { pathExists } from '../path-exists.js';

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

/**
 * The files candidate `candidateId` needs besides the manifest, in the manifest's order: its `files` when the
 * manifest lists them (graphs and the shared weights file), else (bundles written before weights were shared,
 * whose graphs embed their weights) its head and tail, plus the bundle's weights file when it has one. Throws
 * `not_found` when the manifest has no such candidate.
 */
export function candidateFiles(manifest: BundleManifest, candidateId: string): string[] {
  const candidate = manifest.candidates.find((c) => c.id === candidateId);
  if (candidate === undefined) {
    throw new BundleStoreError(
      BundleStoreErrorCode.NotFound,
      `bundle ${manifest.model.id}@${manifest.version} has no candidate ${candidateId}`,
    );
  }
  const wanted = new Set(
    candidate.files ?? [candidate.head, candidate.tail, manifest.weights?.file].filter((f) => f != null),
  );
  return Object.keys(manifest.files).filter((path) => wanted.has(path));
}

/** True when every candidate lists its files, so an agent can fetch some candidates and not others. */
export function listsCandidateFiles(manifest: BundleManifest): boolean {
  return manifest.candidates.every((c) => c.files !== undefined);
}

/** The union of {@link candidateFiles} over `candidateIds` (unknown ids are skipped), in the manifest's order. */
export function filesOfCandidates(manifest: BundleManifest, candidateIds: Iterable<string>): string[] {
  const known = new Set(manifest.candidates.map((c) => c.id));
  const wanted = new Set<string>();
  for (const id of new Set(candidateIds)) {
    if (known.has(id)) for (const path of candidateFiles(manifest, id)) wanted.add(path);
  }
  return Object.keys(manifest.files).filter((path) => wanted.has(path));
}

/**
 * The files an edge agent fetches of a bundle: those of the candidates the plan ranges name (every objective's),
 * of edge-only and of `keep` (e.g. a pinned split), when every candidate lists its files; otherwise (older
 * bundles) every file. The agent fetches by this rule and the console estimates a promotion's download by it.
 */
export function agentBundleFiles(manifest: BundleManifest, keep: readonly string[] = []): string[] {
  if (!listsCandidateFiles(manifest)) return Object.keys(manifest.files);
  const ids = [
    ...manifest.plan.ranges.map((r) => r.candidate),
    ...manifest.candidates.filter((c) => c.kind === 'edge-only').map((c) => c.id),
    ...keep,
  ];
  return filesOfCandidates(manifest, ids);
}

/** The files among `files` that are not in `dir` (not fetched, or removed as corrupted). */
export async function missingFiles(dir: string, files: Iterable<string>): Promise<string[]> {
  const missing: string[] = [];
  for (const path of new Set(files)) {
    if (!(await pathExists(join(dir, path)))) missing.push(path);
  }
  return missing;
}

/**
 * Throws `not_fetched` naming the candidate and every missing file unless `dir` holds all of
 * {@link candidateFiles}: an agent that fetched only some candidates refuses the others with this, instead of
 * letting onnxruntime fail on a missing weights file. Checks presence only; bytes are verified when fetched and
 * when a cached bundle is loaded.
 */
export async function assertCandidateFetched(
  dir: string,
  manifest: BundleManifest,
  candidateId: string,
): Promise<void> {
  const missing = await missingFiles(dir, candidateFiles(manifest, candidateId));
  if (missing.length === 0) return;
  throw new BundleStoreError(
    BundleStoreErrorCode.NotFetched,
    `bundle ${manifest.model.id}@${manifest.version}: candidate ${candidateId} needs ${missing.join(', ')}, ` +
      `which ${missing.length === 1 ? 'is' : 'are'} not in ${dir}: this copy holds only some candidates' files`,
  );
}

/** sha256 and size of a file, streamed (a weights file need not fit in memory twice). */
export async function hashLocalFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).byteLength;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BundleStoreError(
      code === 'ENOENT' ? BundleStoreErrorCode.NotFound : BundleStoreErrorCode.Io,
      `cannot read ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** What {@link checkLocalFile} found. */
export type LocalFileState =
  | { readonly state: 'intact' }
  | { readonly state: 'missing' }
  | { readonly state: 'corrupted'; readonly reason: string };

/** Checks one local file against its manifest entry without throwing: intact, missing, or corrupted and why. */
export async function checkLocalFile(
  path: string,
  expected: { sha256: string; bytes: number },
): Promise<LocalFileState> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) return { state: 'corrupted', reason: `${path} is not a regular file` };
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw new BundleStoreError(BundleStoreErrorCode.Io, `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (size !== expected.bytes) {
    return {
      state: 'corrupted',
      reason: `${path} has ${size} bytes but the manifest lists ${expected.bytes}`,
    };
  }
  const actual = await hashLocalFile(path);
  if (actual.sha256 !== expected.sha256) {
    return { state: 'corrupted', reason: `${path} has sha256 ${actual.sha256} but ${expected.sha256} was expected` };
  }
  return { state: 'intact' };
}
