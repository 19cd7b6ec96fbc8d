// The test publisher: one Ed25519 key per test process, which every bundle the harness builds is signed with and
// every agent and replica the harness starts trusts (in-process through their config, spawned `cleave` processes
// through CLEAVE_TRUSTED_PUBLISHERS; forked workers inherit the key). Suites that edit a manifest re-version and re-sign it here, as a publisher
// would, so the loaders' checks stay on in every test.
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BundleTrust,
  createPublisherKey,
  type ManifestWithBytes,
  publisherPublicKey,
  readLocalManifest,
  sha256Hex,
  signManifest,
} from '@cleave/node-runtime';
import { contentVersion } from '@cleave/proto';

/** A publisher key with its seed on disk, for `--sign-key`. */
export interface TestPublisher {
  readonly seed: string;
  readonly publicKey: string;
  /** The seed file (0600), as `cleave keys new` writes it. */
  readonly seedFile: string;
}

let publisher: TestPublisher | undefined;

/** Where a test process hands its publisher seed to the processes it forks (bench workers), so all trust one key. */
const SEED_ENV = 'CLEAVE_TEST_PUBLISHER_SEED';

/** The test process's publisher key: made on first use, or the one of the process that started this one. */
export function testPublisher(): TestPublisher {
  if (publisher === undefined) {
    const inherited = process.env[SEED_ENV];
    publisher = writePublisher('test-publisher', inherited);
    process.env[SEED_ENV] = publisher.seed;
  }
  return publisher;
}

/** Another key, which nothing trusts: what an attacker or a forgotten CI key signs with. */
export function otherPublisher(): TestPublisher {
  return writePublisher('other-publisher');
}

function writePublisher(name: string, seed?: string): TestPublisher {
  const key = seed === undefined ? createPublisherKey() : { seed, publicKey: publisherPublicKey(seed) };
  const seedFile = join(mkdtempSync(join(tmpdir(), `cleave-${name}-`)), `${name}.nk`);
  writeFileSync(seedFile, `${key.seed}\n`, { mode: 0o600 });
  return { ...key, seedFile };
}

/** The trust of agents and replicas under test: the test publisher only. */
export function testBundleTrust(): BundleTrust {
  return {
    trustedPublishers: [{ publicKey: testPublisher().publicKey, name: 'test-publisher' }],
    allowUnsigned: false,
  };
}

/** Environment for spawned `cleave edge` / `cleave cloud` processes: trust the test publisher. */
export function testTrustEnv(): Record<string, string> {
  return { CLEAVE_TRUSTED_PUBLISHERS: testPublisher().publicKey };
}

/**
 * Edits `dir/manifest.json` as a publisher would: applies `edit` to the raw JSON, derives the version from the new
 * content, and signs it with `signer` (the test publisher by default; `null` leaves it unsigned). Returns the result.
 */
export async function rewriteManifest(
  dir: string,
  edit: (json: Record<string, unknown>) => void,
  signer: TestPublisher | null = testPublisher(),
): Promise<ManifestWithBytes> {
  const path = join(dir, 'manifest.json');
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  delete json['signature'];
  edit(json);
  json['version'] = contentVersion(json, sha256Hex);
  const signed = signer === null ? json : signManifest(json, signer.seed);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(signed, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return readLocalManifest(dir);
}
