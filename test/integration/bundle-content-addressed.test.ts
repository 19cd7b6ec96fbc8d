// Lean bundles and gentle rollouts: files are stored once by content (in the object store and in an agent's
// cache), a version that changes only its manifest costs only its manifest to publish and to fetch, an agent
// fetches only the candidates it may run, and a damaged cached file is detected, never served, and fetched again.
// Works with either bundle format: shared weights with per-candidate file lists, or self-contained graphs.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  BundleStoreError,
  candidateFiles,
  createBundleReader,
  fetchBundle,
  filesOfCandidates,
  listsCandidateFiles,
  publishBundle,
  readBundleFile,
} from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import { blobObjectName, bucketNames, type BundleManifest, bundleObjectName } from '@cleave/proto';
import {
  buildEdgeBundle,
  type EdgeBundle,
  fashionSamples,
  rewriteManifest,
  startTestAgent,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let work: string;
let a: EdgeBundle;
let b: EdgeBundle;

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const manifestBytes = async (bundle: EdgeBundle) => (await readFile(join(bundle.dir, 'manifest.json'))).byteLength;
const distinctShas = (m: BundleManifest) => new Set(Object.values(m.files).map((f) => f.sha256));
/** Bytes of the distinct files (two paths with the same bytes are one blob). */
const distinctBytes = (m: BundleManifest) =>
  [...new Map(Object.values(m.files).map((f) => [f.sha256, f.bytes])).values()].reduce((n, x) => n + x, 0);

/** What an agent with no pin fetches: plan-range candidates and edge-only, or everything of an older bundle. */
function agentFiles(m: BundleManifest): string[] {
  if (!listsCandidateFiles(m)) return Object.keys(m.files);
  const ids = [
    ...m.plan.ranges.map((r) => r.candidate),
    ...m.candidates.filter((c) => c.kind === 'edge-only').map((c) => c.id),
  ];
  return filesOfCandidates(m, ids);
}

/**
 * Version B of a bundle: A's files byte for byte, and a manifest whose exit thresholds differ, as a re-calibration
 * would write. The version covers the whole manifest, so B gets its own; it is signed again, as a publisher would.
 */
async function thresholdsOnlyVariant(from: EdgeBundle, dir: string): Promise<EdgeBundle> {
  await cp(from.dir, dir, { recursive: true });
  const { manifest } = await rewriteManifest(dir, (raw) => {
    const json = raw as unknown as BundleManifest;
    const point = json.exitPolicy?.operatingPoint;
    if (point === undefined) throw new Error('the bundle has no calibrated exits');
    point.thresholds = Object.fromEntries(
      Object.entries(point.thresholds).map(([exit, t]) => [exit, t === null ? null : Math.min(1, t + 0.05)]),
    );
  });
  return { dir, manifest, version: manifest.version };
}

async function listObjects(prefix: string): Promise<string[]> {
  const store = await new Objm(nc).open(bucketNames(prefix).bundles);
  return (await store.list()).map((info) => info.name).sort();
}

async function expectStoreError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BundleStoreError);
  expect((error as BundleStoreError).code).toBe(code);
  expect((error as BundleStoreError).message).toMatch(message);
}

beforeAll(async () => {
  nc = await connect({ servers: nats().url });
  work = await mkdtemp(join(tmpdir(), 'cleave-cas-'));
  a = await buildEdgeBundle(join(work, 'a'));
  b = await thresholdsOnlyVariant(a, join(work, 'b'));
}, 180_000);

afterAll(async () => {
  await nc?.close();
});

describe('content-addressed object store', () => {
  it('stores each file once as blobs/<sha256> and the manifest per version; a thresholds-only version uploads only its manifest', async () => {
    const prefix = `${nats().prefix}s`;
    const first = await publishBundle(nc, a.dir, { prefix });
    const shas = distinctShas(a.manifest);
    expect(first).toMatchObject({ uploaded: shas.size + 1, reused: 0, bytesReused: 0 });
    const expected = [
      ...[...shas].map((s) => blobObjectName(s)),
      bundleObjectName('fmnist', a.version, 'manifest.json'),
    ];
    expect(await listObjects(prefix)).toEqual(expected.sort());

    const second = await publishBundle(nc, b.dir, { prefix });
    expect(second).toMatchObject({ uploaded: 1, reused: distinctShas(b.manifest).size, bytes: await manifestBytes(b) });
    expect(second.bytesReused).toBe(distinctBytes(b.manifest));
    expect((await listObjects(prefix)).filter((n) => !n.startsWith('blobs/'))).toEqual(
      [a.version, b.version].map((v) => bundleObjectName('fmnist', v, 'manifest.json')).sort(),
    );
    // Republishing the same version uploads nothing.
    expect(await publishBundle(nc, a.dir, { prefix })).toMatchObject({ uploaded: 0, bytes: 0 });
  });

  it('re-uploads a blob the store holds with other bytes, and readers reject a tampered blob', async () => {
    const prefix = `${nats().prefix}t`;
    await publishBundle(nc, a.dir, { prefix });
    const path = Object.keys(a.manifest.files).find((p) => p.endsWith('.onnx'))!;
    const entry = a.manifest.files[path]!;
    const original = await readFile(join(a.dir, path));
    const tampered = new Uint8Array(original);
    tampered[tampered.length - 1]! ^= 0xff;
    const store = await new Objm(nc).open(bucketNames(prefix).bundles);
    await store.putBlob({ name: blobObjectName(entry.sha256) }, tampered);
    await expectStoreError(
      readBundleFile(nc, 'fmnist', a.version, path, { prefix }),
      'hash_mismatch',
      new RegExp(`${path.replaceAll('.', '\\.')} has sha256 ${sha(tampered)} but ${entry.sha256} was expected`),
    );
    // The publisher checks what the store holds under the name (its digest), not just that the name exists.
    expect(await publishBundle(nc, a.dir, { prefix })).toMatchObject({ uploaded: 1, bytes: entry.bytes });
    expect(sha(await readBundleFile(nc, 'fmnist', a.version, path, { prefix }))).toBe(entry.sha256);
  });

  it('reads a bundle published by the previous release, under per-version names', async () => {
    const prefix = `${nats().prefix}l`;
    const store = await new Objm(nc).create(bucketNames(prefix).bundles);
    for (const path of [...Object.keys(a.manifest.files), 'manifest.json']) {
      const bytes = await readFile(join(a.dir, path));
      await store.putBlob(
        { name: bundleObjectName('fmnist', a.version, path), metadata: { ['cleave-sha256']: sha(bytes) } },
        bytes,
      );
    }
    const dest = join(work, 'legacy-fetch');
    const fetched = await fetchBundle(nc, 'fmnist', a.version, dest, { prefix, blobDir: join(work, 'legacy-blobs') });
    expect(fetched.files).toEqual(Object.keys(a.manifest.files));
    for (const path of fetched.files) {
      expect(sha(await readFile(join(dest, path)))).toBe(a.manifest.files[path]!.sha256);
    }
    const reader = createBundleReader(nc, { prefix });
    const tail = a.manifest.candidates.find((c) => c.tail !== null)!.tail!;
    expect(sha(await reader.readFile('fmnist', a.version, tail))).toBe(a.manifest.files[tail]!.sha256);
  });
});

describe('fetching only what changed, and only what is needed', () => {
  it('builds version B from the blobs of version A, downloading only its manifest', async () => {
    const prefix = `${nats().prefix}f`;
    await publishBundle(nc, a.dir, { prefix });
    await publishBundle(nc, b.dir, { prefix });
    const cache = join(work, 'fetch-cache');
    const blobDir = join(cache, 'blobs');
    const total = distinctBytes(a.manifest);

    const fa = await fetchBundle(nc, 'fmnist', a.version, join(cache, 'a'), { prefix, blobDir });
    expect(fa).toMatchObject({ reused: false, filesDownloaded: distinctShas(a.manifest).size + 1 });
    expect(fa.bytesDownloaded).toBe(total + (await manifestBytes(a)));

    const fb = await fetchBundle(nc, 'fmnist', b.version, join(cache, 'b'), { prefix, blobDir });
    expect(fb.bytesDownloaded).toBe(await manifestBytes(b));
    expect(fb).toMatchObject({ reused: false, filesDownloaded: 1, bytesWritten: await manifestBytes(b) });
    for (const path of Object.keys(b.manifest.files)) {
      // The same bytes on disk: hard links to one blob.
      expect((await stat(join(cache, 'b', path))).ino).toBe((await stat(join(cache, 'a', path))).ino);
    }
    expect((await readdir(blobDir)).sort()).toEqual([...distinctShas(a.manifest)].sort());
    // Fetching B again reads the manifest only, and says nothing was written.
    const again = await fetchBundle(nc, 'fmnist', b.version, join(cache, 'b'), { prefix, blobDir });
    expect(again).toMatchObject({ reused: true, bytesWritten: 0, bytesDownloaded: await manifestBytes(b) });
  });

  it("fetches only the selected candidates' files; the others are absent and refused by name", async () => {
    const prefix = `${nats().prefix}p`;
    await publishBundle(nc, a.dir, { prefix });
    const split = a.manifest.candidates.find((c) => c.kind === 'split')!;
    const dest = join(work, 'selected');
    const fetched = await fetchBundle(nc, 'fmnist', a.version, dest, {
      prefix,
      files: (m) => candidateFiles(m, split.id),
    });
    expect(fetched.files).toEqual(candidateFiles(a.manifest, split.id));
    const onDisk = (await readdir(dest, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dest.length + 1))
      .sort();
    expect(onDisk).toEqual([...fetched.files, 'manifest.json'].sort());
    await expectStoreError(
      fetchBundle(nc, 'fmnist', a.version, join(work, 'bad-select'), { prefix, files: () => ['nope.onnx'] }),
      'not_found',
      /has no file nope\.onnx/,
    );
  });
});

describe('edge agent: a candidate outside the plan', () => {
  it("fetches a pinned split's files when it is first prepared, and refuses it offline without them", async () => {
    const prefix = `${nats().prefix}q`;
    await publishBundle(nc, a.dir, { prefix });
    const planned = new Set(a.manifest.plan.ranges.map((r) => r.candidate));
    const pin = a.manifest.candidates.find((c) => c.kind === 'split' && !planned.has(c.id))!;
    const missingAtFirst = candidateFiles(a.manifest, pin.id).filter((f) => !agentFiles(a.manifest).includes(f));
    const edge = await startTestAgent({
      natsUrl: nats().url,
      prefix,
      config: { models: [{ id: 'fmnist', pin: pin.id }] },
    });
    const { images } = await fashionSamples(1);
    const input = { input: { dims: [1, 1, 28, 28], data: images[0]! } };
    try {
      await edge.agent.whenServing('fmnist', a.version);
      const added = edge.logs.filter((l) => l['event'] === 'bundle_files_added');
      if (listsCandidateFiles(a.manifest)) {
        expect(missingAtFirst.length).toBeGreaterThan(0);
        expect(added.map((l) => l['files'])).toEqual([missingAtFirst]);
        // The weights file was already there: only the pin's own graphs were downloaded.
        expect(added[0]).toMatchObject({ filesDownloaded: missingAtFirst.length });
      } else {
        expect(added).toEqual([]);
      }
      const r = await new EdgeClient({ url: edge.agent.httpUrl! }).infer('fmnist', input);
      expect(r).toMatchObject({ version: a.version, split: pin.id });
    } finally {
      await edge.close();
    }
    if (!listsCandidateFiles(a.manifest)) return;
    // Offline, with the pin's graphs gone: the files of the plan's candidates are intact, but the agent runs its
    // pin, which the loader refuses by name (the version is not served) rather than crash in onnxruntime.
    for (const file of missingAtFirst) {
      await rm(join(edge.cacheDir, 'bundles', 'fmnist', a.version, file));
    }
    const offline = await startTestAgent({
      natsUrl: undefined,
      prefix,
      cacheDir: edge.cacheDir,
      config: { models: [{ id: 'fmnist', pin: pin.id }] },
    });
    try {
      expect(offline.agent.health().ready).toBe(false);
      expect(offline.agent.status().lastError ?? '').toContain(`${pin.id}`);
      expect(offline.agent.status().lastError ?? '').toContain(missingAtFirst[0]!);
    } finally {
      await offline.close();
    }
  });
});

describe('edge agent cache', () => {
  const prefix = () => `${nats().prefix}e`;
  let cacheDir: string;

  it('hot-swaps to a thresholds-only version downloading only its manifest, and keeps the shared blobs', async () => {
    await publishBundle(nc, a.dir, { prefix: prefix() });
    const edge = await startTestAgent({
      natsUrl: nats().url,
      prefix: prefix(),
      config: { models: [{ id: 'fmnist' }] },
    });
    cacheDir = edge.cacheDir;
    try {
      await edge.agent.whenServing('fmnist', a.version);
      const selected = agentFiles(a.manifest);
      const fetchedA = edge.logs.find((l) => l['event'] === 'bundle_fetched' && l['version'] === a.version);
      expect(fetchedA).toMatchObject({ files: selected.length });
      // With per-candidate file lists the agent leaves out candidates it never runs; older bundles come whole.
      if (listsCandidateFiles(a.manifest)) expect(selected.length).toBeLessThan(Object.keys(a.manifest.files).length);
      else expect(selected).toEqual(Object.keys(a.manifest.files));

      await publishBundle(nc, b.dir, { prefix: prefix() });
      await edge.agent.whenServing('fmnist', b.version);
      const fetchedB = edge.logs.find((l) => l['event'] === 'bundle_fetched' && l['version'] === b.version);
      expect(fetchedB).toMatchObject({ bytesDownloaded: await manifestBytes(b), filesDownloaded: 1 });
      const oldDir = join(cacheDir, 'bundles', 'fmnist', a.version);
      await expect
        .poll(
          () =>
            stat(oldDir).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000 },
        )
        .toBe(false);
      // B lists every blob A had: pruning A removed none of them.
      const blobs = await readdir(join(cacheDir, 'blobs'));
      for (const path of selected) expect(blobs).toContain(b.manifest.files[path]!.sha256);
    } finally {
      await edge.close();
    }
  });

  it('serves an intact cached version with no network', async () => {
    const offline = await startTestAgent({
      natsUrl: undefined,
      prefix: prefix(),
      cacheDir,
      config: { models: [{ id: 'fmnist' }] },
    });
    try {
      expect(offline.agent.health()).toMatchObject({ ready: true });
      expect(offline.agent.modelStatus('fmnist')?.version).toBe(b.version);
      const { images } = await fashionSamples(1);
      const r = await new EdgeClient({ url: offline.agent.httpUrl! }).infer('fmnist', {
        input: { dims: [1, 1, 28, 28], data: images[0]! },
      });
      expect(r.version).toBe(b.version);
    } finally {
      await offline.close();
    }
  });

  it('never serves a corrupted weights blob: offline it says why, online it fetches only that blob again', async () => {
    const selected = agentFiles(b.manifest);
    // The shared weights file when the bundle has one, else its largest file the agent holds.
    const victim =
      b.manifest.weights?.file ??
      [...selected].sort((x, y) => b.manifest.files[y]!.bytes - b.manifest.files[x]!.bytes)[0]!;
    const entry = b.manifest.files[victim]!;
    const blob = join(cacheDir, 'blobs', entry.sha256);
    const damaged = new Uint8Array(await readFile(blob));
    damaged[damaged.length >> 1]! ^= 0x01;
    await writeFile(blob, damaged); // in place: the bundle directory's hard link sees it too

    const offline = await startTestAgent({
      natsUrl: undefined,
      prefix: prefix(),
      cacheDir,
      config: { models: [{ id: 'fmnist' }] },
    });
    try {
      expect(offline.agent.health().ready).toBe(false);
      expect(offline.agent.modelStatus('fmnist')?.version ?? null).toBeNull();
      const lastError = offline.agent.status().lastError ?? '';
      expect(lastError).toContain(`cached bundle fmnist@${b.version} is damaged`);
      expect(lastError).toContain(`${victim} has sha256 ${sha(damaged)} but ${entry.sha256} was expected`);
      expect(await readdir(join(cacheDir, 'blobs'))).not.toContain(entry.sha256);
      await expect(stat(join(cacheDir, 'bundles', 'fmnist', b.version, victim))).rejects.toThrow(/ENOENT/);
    } finally {
      await offline.close();
    }

    const online = await startTestAgent({
      natsUrl: nats().url,
      prefix: prefix(),
      cacheDir,
      config: { models: [{ id: 'fmnist' }] },
    });
    try {
      await online.agent.whenServing('fmnist', b.version);
      const fetched = online.logs.find((l) => l['event'] === 'bundle_fetched' && l['version'] === b.version);
      expect(fetched).toMatchObject({ filesDownloaded: 2, bytesDownloaded: (await manifestBytes(b)) + entry.bytes });
      expect(sha(await readFile(join(cacheDir, 'blobs', entry.sha256)))).toBe(entry.sha256);
      expect(sha(await readFile(join(cacheDir, 'bundles', 'fmnist', b.version, victim)))).toBe(entry.sha256);
    } finally {
      await online.close();
    }
  });
});
