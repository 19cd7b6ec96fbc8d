// Acceptance: a new bundle version is published while requests stream through the agent. No request fails and no
// request mixes versions. The two versions differ in their final classifier, so every answer's logits show which
// version's tail produced them, independently of what the agent reports.
import { access, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { type ClientResult, EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type EdgeBundle,
  fashionSamples,
  fullModelLogits,
  maxAbsDiff,
  startTestAgent,
  startTestReplica,
  type TestAgent,
  testServiceSettings,
  useTestNats,
  waitFor,
  writeExitsVariantModel,
} from '../harness/mod.js';

const nats = useTestNats();
let v1: EdgeBundle;
let v2: EdgeBundle;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let edge: TestAgent;
let images: Float32Array[];
let reference: Map<string, Float32Array[]>;
let split: string;

beforeAll(async () => {
  const { url, prefix } = nats();
  const work = await mkdtemp(join(tmpdir(), 'edge-swap-'));
  const variant = await writeExitsVariantModel(join(work, 'variant', 'fmnist-exits.onnx'));
  [v1, v2] = await Promise.all([
    buildEdgeBundle(join(work, 'v1'), { calibrate: false }),
    buildEdgeBundle(join(work, 'v2'), { calibrate: false, model: variant }),
  ]);
  // A split without exits that both versions carry: every request needs a tail of its own version.
  const inV2 = new Set(v2.manifest.candidates.map((c) => c.id));
  split = v1.manifest.candidates.find((c) => c.kind === 'split' && !(c.exits ?? []).length && inV2.has(c.id))!.id;
  admin = await connect({ servers: url });
  await publishBundle(admin, v1.dir, { prefix });
  replica = await startTestReplica(url, testServiceSettings(prefix, 'r1'));
  edge = await startTestAgent({
    natsUrl: url,
    prefix,
    config: { models: [{ id: 'fmnist', pin: split }], policy: { deadlineMs: 2000 } },
  });
  await edge.agent.whenServing('fmnist', v1.version);
  ({ images } = await fashionSamples(30));
  reference = new Map([
    [v1.version, await fullModelLogits(v1, images)],
    [v2.version, await fullModelLogits(v2, images)],
  ]);
}, 180_000);

afterAll(async () => {
  await edge?.close();
  await replica?.close();
  await admin?.close();
});

interface Answer {
  readonly sample: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly result?: ClientResult;
  readonly error?: unknown;
}

describe('hot swap under load', () => {
  it('publishing a new version fails no request and never mixes versions', async () => {
    expect(v1.version).not.toBe(v2.version);
    const client = new EdgeClient({ url: edge.agent.httpUrl! });
    const answers: Answer[] = [];
    let running = true;
    let next = 0;
    const worker = async () => {
      while (running) {
        const sample = next++ % images.length;
        const startedAt = performance.now();
        try {
          const result = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: images[sample]! } });
          answers.push({ sample, startedAt, finishedAt: performance.now(), result });
        } catch (error) {
          answers.push({ sample, startedAt, finishedAt: performance.now(), error });
        }
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await publishBundle(admin, v2.dir, { prefix: nats().prefix });
      await edge.agent.whenServing('fmnist', v2.version);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      running = false;
      await Promise.all(workers);
    }

    expect(answers.filter((a) => a.error !== undefined).map((a) => String(a.error))).toEqual([]);
    for (const a of answers) {
      const r = a.result!;
      expect([v1.version, v2.version]).toContain(r.version);
      expect(r.tailVersion).toBe(r.version);
      const own = reference.get(r.version)![a.sample]!;
      const other = reference.get(r.version === v1.version ? v2.version : v1.version)![a.sample]!;
      const logits = r.outputs['logits']!.data as Float32Array;
      expect(maxAbsDiff(logits, own)).toBeLessThan(1e-4);
      expect(maxAbsDiff(logits, other)).toBeGreaterThan(0.1);
    }
    const byVersion = (v: string) => answers.filter((a) => a.result!.version === v);
    expect(byVersion(v1.version).length).toBeGreaterThan(10);
    expect(byVersion(v2.version).length).toBeGreaterThan(10);
    // Both versions really ran in the cloud, each on its own tail subject.
    expect(byVersion(v1.version).some((a) => a.result!.ranOn === 'cloud')).toBe(true);
    expect(byVersion(v2.version).some((a) => a.result!.ranOn === 'cloud')).toBe(true);
    // Once a request got the new version, every request started later gets it too.
    const firstNew = Math.min(...byVersion(v2.version).map((a) => a.finishedAt));
    expect(answers.filter((a) => a.startedAt > firstNew && a.result!.version === v1.version)).toEqual([]);
    // The old version is released and removed from the cache once its last request finished.
    const oldDir = join(edge.cacheDir, 'bundles', 'fmnist', v1.version);
    await waitFor(
      () =>
        access(oldDir).then(
          () => false,
          () => true,
        ),
      'the old bundle to leave the cache',
    );
    expect(edge.logs.some((l) => l['event'] === 'bundle_swap' && l['previous'] === v1.version)).toBe(true);
  });
});
