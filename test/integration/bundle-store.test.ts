import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  BundleStoreError,
  createBundleReader,
  currentVersion,
  fetchBundle,
  publishBundle,
  readBundleFile,
  watchCurrent,
} from '@cleave/node-runtime';
import { blobObjectName, bucketNames, bundleAnnounceSubject, bundleObjectName, decodeMessage } from '@cleave/proto';
import { buildExampleBundle, runCleave, type TestBundle, useTestNats } from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let work: string;
let bundle: TestBundle;

beforeAll(async () => {
  nc = await connect({ servers: nats().url });
  work = await mkdtemp(join(tmpdir(), 'cleave-store-'));
  bundle = await buildExampleBundle(join(work, 'bundle'));
});
afterAll(async () => {
  await nc?.close();
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function expectStoreError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BundleStoreError);
  expect((error as BundleStoreError).name).toBe('BundleStoreError');
  expect((error as BundleStoreError).code).toBe(code);
  expect((error as BundleStoreError).message).toMatch(message);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('bundle store: publish, fetch and verify', () => {
  it('publishes every file, marks the version current, announces it, and fetches an identical copy', async () => {
    const prefix = `${nats().prefix}a`;
    const announced = nc.subscribe(bundleAnnounceSubject(prefix, 'fmnist'), { max: 1 });
    const published = await publishBundle(nc, bundle.dir, { prefix });
    expect(published).toMatchObject({ model: 'fmnist', version: bundle.version });
    const manifestBytes = await readFile(join(bundle.dir, 'manifest.json'));
    expect(published.manifestSha256).toBe(sha(manifestBytes));

    for await (const msg of announced) {
      expect(decodeMessage(msg.data)).toMatchObject({
        kind: 'bundle',
        model: 'fmnist',
        version: bundle.version,
        manifestSha256: published.manifestSha256,
      });
    }
    expect(await currentVersion(nc, 'fmnist', { prefix })).toBe(bundle.version);
    expect(await currentVersion(nc, 'never-published', { prefix })).toBeUndefined();

    const dest = join(work, 'fetched');
    const fetched = await fetchBundle(nc, 'fmnist', bundle.version, dest, {
      prefix,
      expectedManifestSha256: published.manifestSha256,
    });
    expect(fetched.reused).toBe(false);
    expect(await listFiles(dest)).toEqual(await listFiles(bundle.dir));
    for (const path of await listFiles(dest)) {
      expect(sha(await readFile(join(dest, path)))).toBe(sha(await readFile(join(bundle.dir, path))));
    }
    const again = await fetchBundle(nc, 'fmnist', bundle.version, dest, { prefix });
    expect(again.reused).toBe(true);

    const [tailPath] = [...bundle.splits.values()].map((s) => s.tail.slice(bundle.dir.length + 1));
    const tail = await readBundleFile(nc, 'fmnist', bundle.version, tailPath!, { prefix });
    expect(sha(tail)).toBe(sha(await readFile(join(bundle.dir, tailPath!))));
  });

  it('sees current-version changes through watchCurrent', async () => {
    const prefix = `${nats().prefix}w`;
    const watch = await watchCurrent(nc, { prefix, model: 'fmnist' });
    const first = (async () => {
      for await (const update of watch) return update;
      return undefined;
    })();
    await publishBundle(nc, bundle.dir, { prefix });
    await expect(first).resolves.toMatchObject({ model: 'fmnist', version: bundle.version });
    watch.stop();
  });
});

describe('bundle store: expected failure', () => {
  it('rejects a corrupted local bundle before uploading anything', async () => {
    const prefix = `${nats().prefix}c`;
    const copy = join(work, 'corrupt-local');
    await cp(bundle.dir, copy, { recursive: true });
    const tail = [...bundle.splits.values()][0]!.tail.slice(bundle.dir.length + 1);
    await writeFile(join(copy, tail), 'not the tail');
    await expectStoreError(
      publishBundle(nc, copy, { prefix }),
      'hash_mismatch',
      /tail\.onnx has 12 bytes but the manifest lists \d+/,
    );
    await expect(new Objm(nc).open(bucketNames(prefix).bundles)).rejects.toThrow(/not found/);
  });

  it('rejects an object overwritten in the store with different bytes, naming the file and both hashes', async () => {
    const prefix = `${nats().prefix}o`;
    await publishBundle(nc, bundle.dir, { prefix });
    const tail = [...bundle.splits.values()][0]!.tail.slice(bundle.dir.length + 1);
    const store = await new Objm(nc).open(bucketNames(prefix).bundles);
    const original = await readFile(join(bundle.dir, tail));
    const tampered = new Uint8Array(original);
    tampered[tampered.length - 1]! ^= 0xff;
    // Files live once, under their content name: overwriting that object is what a tampering writer would do.
    await store.putBlob({ name: blobObjectName(sha(original)) }, tampered);

    await expectStoreError(
      readBundleFile(nc, 'fmnist', bundle.version, tail, { prefix }),
      'hash_mismatch',
      new RegExp(`${tail.replaceAll('/', '\\/')} has sha256 ${sha(tampered)} but ${sha(original)} was expected`),
    );
    const dest = join(work, 'never-written');
    await expectStoreError(fetchBundle(nc, 'fmnist', bundle.version, dest, { prefix }), 'hash_mismatch', /corrupted/);
    await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
  });

  it('rejects a manifest stored under another version, and an unexpected manifest sha256', async () => {
    const prefix = `${nats().prefix}m`;
    const published = await publishBundle(nc, bundle.dir, { prefix });
    const store = await new Objm(nc).open(bucketNames(prefix).bundles);
    const manifest = await readFile(join(bundle.dir, 'manifest.json'));
    await store.putBlob({ name: bundleObjectName('fmnist', 'v-other', 'manifest.json') }, manifest);
    await expectStoreError(
      createBundleReader(nc, { prefix }).readManifest('fmnist', 'v-other'),
      'manifest_mismatch',
      new RegExp(`describes fmnist@${bundle.version}, not fmnist@v-other: refusing to mix versions`),
    );
    await expectStoreError(
      fetchBundle(nc, 'fmnist', bundle.version, join(work, 'x'), { prefix, expectedManifestSha256: 'f'.repeat(64) }),
      'hash_mismatch',
      new RegExp(`manifest\\.json has sha256 ${published.manifestSha256} but f{64} was expected`),
    );
  });

  it('refuses to publish other content under a version that is already published', async () => {
    const prefix = `${nats().prefix}v`;
    await publishBundle(nc, bundle.dir, { prefix });
    const copy = join(work, 'same-version');
    await cp(bundle.dir, copy, { recursive: true });
    const manifest = JSON.parse(await readFile(join(copy, 'manifest.json'), 'utf8')) as { createdAt: string };
    manifest.createdAt = '2001-01-01T00:00:00.000Z';
    await writeFile(join(copy, 'manifest.json'), JSON.stringify(manifest));
    await expectStoreError(publishBundle(nc, copy, { prefix }), 'version_conflict', /versions are immutable/);
    await expect(publishBundle(nc, bundle.dir, { prefix })).resolves.toMatchObject({ version: bundle.version });
  });

  it('reports a missing version or model as not_found', async () => {
    const prefix = `${nats().prefix}n`;
    await expectStoreError(
      fetchBundle(nc, 'fmnist', 'v1', join(work, 'y'), { prefix }),
      'not_found',
      /nothing has been published under prefix/,
    );
    await publishBundle(nc, bundle.dir, { prefix });
    await expectStoreError(
      fetchBundle(nc, 'fmnist', 'v-unpublished', join(work, 'y'), { prefix }),
      'not_found',
      /bundle fmnist@v-unpublished is not in the store/,
    );
  });
});

describe('cleave publish', () => {
  it('publishes a bundle and makes it current', async () => {
    const prefix = `${nats().prefix}p`;
    const res = await runCleave(['publish', bundle.dir, '--nats-url', nats().url, '--prefix', prefix]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('"msg":"bundle published"');
    expect(await currentVersion(nc, 'fmnist', { prefix })).toBe(bundle.version);
  });

  it('fails with one line naming the corrupted file and a non-zero exit', async () => {
    const copy = join(work, 'corrupt-cli');
    await cp(bundle.dir, copy, { recursive: true });
    await writeFile(join(copy, 'model.onnx'), 'garbage');
    const res = await runCleave(['publish', copy, '--nats-url', nats().url, '--prefix', `${nats().prefix}q`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^cleave: BundleStoreError: .*model\.onnx has 7 bytes but the manifest lists \d+/);
  });
});
