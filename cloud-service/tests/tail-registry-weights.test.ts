// Tails of bundles that keep their weights in one shared file: the replica fetches and stores each weights content
// once, lays out a directory per version for onnxruntime to load by path, counts the weights once in the memory
// budget however many tails read them, and removes the files when no loaded tail needs them. In-memory store and
// executor; the real object store and onnxruntime are exercised by the integration suite.
import { access, mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '@cleave/proto';
import { BundleStoreError, type BundleReader, type ManifestWithBytes } from '@cleave/node-runtime';
import type { LoadedSession } from '../src/tail/executor-protocol.js';
import type { TailExecutor } from '../src/tail/ort-executor.js';
import { createTailFiles } from '../src/tail/tail-files.js';
import { createTailRegistry } from '../src/tail/tail-registry.js';

const spec = { name: 'cut', dtype: 'float32', shape: ['batch', 4] };
const sha = (c: string) => c.repeat(64);

/** A shared-weights manifest: `weights.bin` of `weightsBytes` (content `weightsSha`) and one tail per split. */
function manifest(
  version: string,
  tails: Record<string, number>,
  weights: { sha256: string; bytes: number } | undefined,
): BundleManifest {
  const files: Record<string, { sha256: string; bytes: number }> = {};
  if (weights !== undefined) files['weights.bin'] = weights;
  const candidates = Object.entries(tails).map(([id, bytes], i) => {
    files[`${id}.tail.onnx`] = { sha256: String(i + 1).repeat(64), bytes };
    return {
      id,
      kind: 'split',
      cut: ['cut'],
      head: `${id}.head.onnx`,
      tail: `${id}.tail.onnx`,
      ...(weights === undefined ? {} : { files: [`${id}.head.onnx`, `${id}.tail.onnx`, 'weights.bin'] }),
      cutTensors: [spec],
      bytesPerSample: { f32: 16, f16: 8, int8: 4 },
      profile: {},
    };
  });
  return {
    version,
    model: { id: 'm' },
    ...(weights === undefined ? {} : { weights: { file: 'weights.bin', tensors: 3 } }),
    files,
    candidates,
  } as unknown as BundleManifest;
}

function fakeStore(bundles: BundleManifest[]) {
  const reads: string[] = [];
  const reader: BundleReader = {
    prefix: 'test',
    readManifest(model, version) {
      const found = bundles.find((b) => b.version === version);
      if (found === undefined) return Promise.reject(new BundleStoreError('not_found', `no ${model}@${version}`));
      return Promise.resolve({
        manifest: found,
        bytes: new Uint8Array(),
        sha256: sha('c'),
      } satisfies ManifestWithBytes);
    },
    readFile(_model, version, path, m) {
      reads.push(`${version}/${path}`);
      // Each file's bytes say which file they are, so a test can tell a link from a copy of another file.
      const bytes = new Uint8Array(m!.files[path]!.bytes);
      bytes.set(new TextEncoder().encode(m!.files[path]!.sha256.slice(0, Math.min(8, bytes.length))));
      return Promise.resolve(bytes);
    },
    currentVersion: () => Promise.resolve(bundles.at(-1)?.version),
  };
  return { reader, reads };
}

function fakeExecutor() {
  let next = 1;
  const models: (string | Uint8Array)[] = [];
  const executor: TailExecutor = {
    load: (model) => {
      models.push(model);
      return Promise.resolve({ session: next++, inputs: [spec], outputs: [spec] } satisfies LoadedSession);
    },
    run: (_session, feeds) => Promise.resolve([...feeds]),
    unload: () => Promise.resolve(),
    onReset: () => undefined,
    close: () => Promise.resolve(),
  };
  return { executor, models };
}

async function setup(bundles: BundleManifest[], maxTailBytes: number) {
  const store = fakeStore(bundles);
  const exec = fakeExecutor();
  const cacheDir = await mkdtemp(join(tmpdir(), 'cleave-tail-files-'));
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const onEvent = (event: string, fields: Record<string, unknown>) => events.push({ event, fields });
  let clock = 0;
  const tails = createTailRegistry({
    reader: store.reader,
    verify: () => undefined, // signatures are tested against real bundles (threat-bundle-swap)
    executor: exec.executor,
    policy: { maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueRequests: 8 },
    limits: { maxTailBytes, negativeCacheMs: 1000 },
    files: createTailFiles({ reader: store.reader, cacheDir, onEvent }),
    now: () => (clock += 1),
    onEvent,
  });
  return { tails, store, exec, cacheDir, events };
}

const at = (version: string, split: string) => ({ model: 'm', version, split });
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
// Lets the fire-and-forget removals of released files run.
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('tail registry: shared weights', () => {
  const W = { sha256: sha('a'), bytes: 1000 };

  it('fetches a version’s weights once, loads each tail by path beside them, and counts them once', async () => {
    const { tails, store, exec, events } = await setup([manifest('v1', { s1: 100, s2: 50 }, W)], 5000);
    const [a, b] = await Promise.all([tails.acquire(at('v1', 's1')), tails.acquire(at('v1', 's2'))]);
    expect(store.reads.filter((r) => r.endsWith('weights.bin'))).toEqual(['v1/weights.bin']);
    expect(events.filter((e) => e.event === 'weights fetched')).toHaveLength(1);
    expect(tails.loadedBytes).toBe(100 + 50 + 1000);
    expect(tails.loaded()).toEqual({ tails: ['m/v1/s1', 'm/v1/s2'], weights: [W] });
    for (const model of exec.models) {
      expect(typeof model).toBe('string');
      const path = model as string;
      expect(path).toMatch(/\/s[12]\.tail\.onnx$/);
      // onnxruntime resolves the location `weights.bin` against the graph's directory.
      const weights = join(dirname(path), 'weights.bin');
      expect((await stat(weights)).size).toBe(1000);
      expect((await readFile(path)).byteLength).toBeGreaterThan(0);
    }
    a.release();
    b.release();
    await tails.close();
  });

  it('shares one stored weights file between versions with the same weights content', async () => {
    const { tails, store, exec, cacheDir } = await setup(
      [manifest('v1', { s1: 100 }, W), manifest('v2', { s1: 100 }, W)],
      5000,
    );
    await tails.acquire(at('v1', 's1'));
    await tails.acquire(at('v2', 's1'));
    expect(store.reads.filter((r) => r.endsWith('weights.bin'))).toHaveLength(1);
    expect(tails.loadedBytes).toBe(100 + 100 + 1000);
    expect(tails.loaded().weights).toEqual([W]);
    // Two version directories, one file: the links share an inode.
    const [p1, p2] = exec.models as string[];
    expect(dirname(p1!)).not.toBe(dirname(p2!));
    const [i1, i2] = await Promise.all([p1, p2].map((p) => stat(join(dirname(p!), 'weights.bin'))));
    expect(i1!.ino).toBe(i2!.ino);
    const [root] = await readdir(cacheDir);
    expect(await readdir(join(cacheDir, root!, 'weights'))).toHaveLength(1);
    await tails.close();
    expect(await readdir(cacheDir)).toEqual([]); // the replica's directory goes with it
  });

  it('frees the weights with their last reader, on disk and in the budget, and keeps those a new tail shares', async () => {
    const W2 = { sha256: sha('b'), bytes: 800 };
    const { tails, cacheDir } = await setup(
      [manifest('v1', { s1: 100, s2: 100 }, W), manifest('v2', { s1: 100 }, W2)],
      1150,
    );
    const a = await tails.acquire(at('v1', 's1'));
    a.release();
    // s2 needs 100 more: evicting s1 frees only its graph, as s2 reads the same weights, which stay counted (and
    // on disk: the version directory is never removed in between).
    const b = await tails.acquire(at('v1', 's2'));
    b.release();
    await settle();
    expect(tails.loaded().tails).toEqual(['m/v1/s2']);
    expect(tails.loadedBytes).toBe(1100);
    const [dir] = await readdir(cacheDir);
    expect(await readdir(join(cacheDir, dir!, 'versions', 'm'))).toHaveLength(1);
    // v2 needs 900 more: both v1 tails go, and with the last of them the v1 weights.
    const c = await tails.acquire(at('v2', 's1'));
    await settle();
    expect(tails.loaded()).toEqual({ tails: ['m/v2/s1'], weights: [W2] });
    expect(tails.loadedBytes).toBe(900);
    const [root] = await readdir(cacheDir);
    const stored = await readdir(join(cacheDir, root!, 'weights'));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/^b{64}-/);
    expect(await readdir(join(cacheDir, root!, 'versions', 'm'))).toEqual([expect.stringMatching(/^v2-/)]);
    c.release();
    await tails.close();
  });

  it('answers unavailable when a tail and its weights exceed the whole budget', async () => {
    const { tails } = await setup([manifest('v1', { s1: 100 }, W)], 1000);
    await expect(tails.acquire(at('v1', 's1'))).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(
        /needs 1100 bytes \(graph 100, weights 1000\); the tail memory budget is 1000/,
      ) as unknown,
    });
    await tails.close();
  });

  it('loads a bundle that embeds its weights from bytes, touching no disk', async () => {
    const { tails, exec, cacheDir } = await setup([manifest('v1', { s1: 100 }, undefined)], 1000);
    await tails.acquire(at('v1', 's1'));
    expect(exec.models[0]).toBeInstanceOf(Uint8Array);
    expect(tails.loadedBytes).toBe(100);
    await tails.close();
    expect(await exists(join(cacheDir, 'versions'))).toBe(false);
  });
});
