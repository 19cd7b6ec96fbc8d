// A bundle that stores every weight once (`weights.bin`, ONNX external data) beside flat graph files, served end to
// end: the edge agent runs heads, whole models and local tails from it, the cloud replica runs its tails from its
// own copy, and every answer equals the full model's. Two versions with the same weights content share one copy on
// the replica, counted once in its tail memory.
import { cp, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EdgeClient } from '@cleave/edge-agent';
import { publishBundle, sha256Hex } from '@cleave/node-runtime';
import {
  buildEdgeBundle,
  type EdgeBundle,
  exampleImages,
  fashionSamples,
  fullModelLogits,
  inferRequest,
  maxAbsDiff,
  replyLogits,
  requestTail,
  rewriteManifest,
  runHead,
  runTailLocally,
  splitWithoutExits,
  startTestAgent,
  startTestReplica,
  type TestBundle,
  testServiceSettings,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let bundle: EdgeBundle;
/** The same files under another version: what a re-plan or a threshold change publishes. */
let twin: EdgeBundle;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let images: Float32Array[];
let reference: Float32Array[];
let split: string;

/** The cloud-fixtures view of a bundle, for running a split's head and tail here. */
function asTestBundle(b: EdgeBundle): TestBundle {
  const splits = new Map<string, { head: string; tail: string; cut: string[] }>();
  for (const c of b.manifest.candidates) {
    if (c.kind !== 'split') continue;
    splits.set(c.id, { head: join(b.dir, c.head!), tail: join(b.dir, c.tail!), cut: c.cut });
  }
  return { dir: b.dir, model: b.manifest.model.id, version: b.version, splits };
}

/** The same files under another version: a manifest that differs only in `createdAt`, re-versioned and signed. */
async function copyAsVersion(b: EdgeBundle, dir: string): Promise<EdgeBundle> {
  await cp(b.dir, dir, { recursive: true });
  const { manifest } = await rewriteManifest(dir, (json) => {
    json['createdAt'] = new Date(Date.parse(String(json['createdAt'])) + 1000).toISOString();
  });
  return { dir, manifest, version: manifest.version };
}

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'cleave-shared-weights-'));
  bundle = await buildEdgeBundle(join(work, 'a'), { calibrate: false });
  twin = await copyAsVersion(bundle, join(work, 'b'));
  split = splitWithoutExits(bundle.manifest).id;
  nc = await connect({ servers: nats().url });
  replica = await startTestReplica(nats().url, testServiceSettings(nats().prefix, 'shared'));
  await publishBundle(nc, bundle.dir, { prefix: nats().prefix });
  ({ images } = await fashionSamples(12));
  reference = await fullModelLogits(bundle, images);
}, 240_000);

afterAll(async () => {
  await replica?.close();
  await nc?.close();
});

describe('shared-weights bundles', () => {
  it('store each weight once, in weights.bin beside flat graph files that reference it', async () => {
    const { manifest } = bundle;
    expect(manifest.weights?.file).toBe('weights.bin');
    const weights = manifest.files['weights.bin']!;
    expect((await stat(join(bundle.dir, 'weights.bin'))).size).toBe(weights.bytes);
    expect(sha256Hex(new Uint8Array(await readFile(join(bundle.dir, 'weights.bin'))))).toBe(weights.sha256);
    for (const c of manifest.candidates) {
      expect(c.files).toContain('weights.bin');
      for (const graph of [c.head, c.tail]) {
        if (graph === null) continue;
        expect(graph).not.toContain('/');
        expect(c.files).toContain(graph);
        // A graph holds structure, not weights: the whole model's graph is a small fraction of its weights.
        expect(manifest.files[graph]!.bytes).toBeLessThan(weights.bytes / 4);
      }
    }
  });

  it('the edge agent offloads a split to the replica and every answer equals the full model’s', async () => {
    const edge = await startTestAgent({
      natsUrl: nats().url,
      prefix: nats().prefix,
      // Room for the replica to load the tail on the first request (no plan range offloads, so none is prewarmed).
      config: { models: [{ id: 'fmnist', pin: split }], policy: { deadlineMs: 10_000 } },
    });
    try {
      await edge.agent.whenServing('fmnist', bundle.version);
      const client = new EdgeClient({ url: edge.agent.httpUrl! });
      for (const [i, image] of images.entries()) {
        const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } });
        expect(r).toMatchObject({ ranOn: 'cloud', split, version: bundle.version, tailVersion: bundle.version });
        expect(maxAbsDiff(r.outputs['logits']!.data as Float32Array, reference[i]!)).toBeLessThan(1e-4);
      }
    } finally {
      await edge.close();
    }
    const status = replica.service.status();
    expect(status.tails).toContain(`fmnist/${bundle.version}/${split}`);
    expect(status.weights).toEqual([
      { sha256: bundle.manifest.files['weights.bin']!.sha256, bytes: bundle.manifest.files['weights.bin']!.bytes },
    ]);
  });

  it('the edge runs whole models and local tails from the weights file on its own', async () => {
    for (const pin of ['edge-only', split]) {
      // No NATS: edge-only runs the whole model here; the split, with no cloud, finishes its tail here.
      const online = await startTestAgent({
        natsUrl: nats().url,
        prefix: nats().prefix,
        config: { models: [{ id: 'fmnist', pin }] },
      });
      await online.agent.whenServing('fmnist', bundle.version);
      // The agent records its current version on disk after the swap, without blocking it.
      const record = join(online.cacheDir, 'current', 'fmnist.json');
      await waitFor(
        () =>
          readFile(record, 'utf8').then(
            (t) => t.includes(bundle.version),
            () => false,
          ),
        record,
      );
      await online.close();
      const offline = await startTestAgent({
        natsUrl: undefined,
        prefix: nats().prefix,
        cacheDir: online.cacheDir,
        config: { models: [{ id: 'fmnist', pin }] },
      });
      try {
        expect(offline.agent.status().lastError ?? null).toBeNull();
        expect(offline.agent.health()).toMatchObject({ ready: true });
        const client = new EdgeClient({ url: offline.agent.httpUrl! });
        for (const [i, image] of images.slice(0, 4).entries()) {
          const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } });
          expect(r.ranOn).toBe(pin === 'edge-only' ? 'edge' : 'fallback');
          expect(maxAbsDiff(r.outputs['logits']!.data as Float32Array, reference[i]!)).toBeLessThan(1e-4);
        }
      } finally {
        await offline.close();
      }
    }
  });

  it('the replica serves two versions with the same weights from one copy, counted once', async () => {
    await publishBundle(nc, twin.dir, { prefix: nats().prefix });
    for (const b of [bundle, twin].map(asTestBundle)) {
      const cut = await runHead(b, split, exampleImages(3, 11), 3);
      const expected = await runTailLocally(b, split, cut);
      const at = { model: b.model, version: b.version, split };
      const reply = await requestTail(nc, nats().prefix, at, inferRequest(at, `twin-${b.version}`, cut));
      expect(maxAbsDiff(replyLogits(reply), expected)).toBeLessThan(1e-4);
    }
    const { manifest } = bundle;
    const weights = manifest.files['weights.bin']!;
    // Every loaded tail's graph plus the weights once. The prewarm of the current version may still be loading a
    // tail (counted when its load starts, listed when it ends), so the two agree once it is done.
    const graphsOf = (tails: readonly string[]) =>
      tails.reduce((sum, key) => {
        const c = manifest.candidates.find((x) => x.id === key.split('/')[2])!;
        return sum + manifest.files[c.tail!]!.bytes;
      }, 0);
    await waitFor(
      () => replica.service.stats().loadedTailBytes === graphsOf(replica.service.status().tails) + weights.bytes,
      'the tail budget to equal the loaded graphs plus one copy of the weights',
    ).catch(() => undefined);
    const status = replica.service.status();
    expect(status.tails).toEqual(
      expect.arrayContaining([`fmnist/${bundle.version}/${split}`, `fmnist/${twin.version}/${split}`]),
    );
    expect(status.weights).toEqual([{ sha256: weights.sha256, bytes: weights.bytes }]);
    expect(replica.service.stats().loadedTailBytes).toBe(graphsOf(status.tails) + weights.bytes);
  });
});
