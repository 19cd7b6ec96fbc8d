// Prewarming: a replica loads and warms the tails a version's plan sends to the cloud as soon as the version is
// current (at start for the versions current then, on promotion for the others), so the first offload finds a warm
// session. The plan's cloud tails are loaded (not edge-only candidates, not tails the plan keeps on the edge), and on
// a promotion also the splits agents offload now on the version before (a pinned agent's split), within the tail
// memory budget, with one log line per version; a replica with prewarming off loads on demand.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createTailService, type TailService, type TailServiceSettings } from '@cleave/cloud-service';
import { publishBundle } from '@cleave/node-runtime';
import type { BundleManifest, PlanRange, TailAddress } from '@cleave/proto';
import {
  buildExampleBundle,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  replyLogits,
  requestTail,
  rewriteManifest,
  runHead,
  runTailLocally,
  type TestBundle,
  testServiceSettings,
  useTestNats,
  waitFor,
  writeVariantModel,
} from '../harness/mod.js';

type Line = Record<string, unknown> & { msg: string; level: string };

interface Replica {
  readonly service: TailService;
  readonly logs: Line[];
  close(): Promise<void>;
}

const nats = useTestNats();
let nc: NatsConnection;
let v1: TestBundle;
let v2: TestBundle;
/** The plan's cloud splits, a split the plan keeps on the edge, and the manifest as published. */
let offloaded: [string, string];
let edgeTail: string;
let manifest: BundleManifest;
const replicas: Replica[] = [];

/**
 * Rewrites a bundle's plan so that it offloads: the example model is so small that the partitioner keeps every
 * range on the edge. Two cloud ranges for latency, a staged range (tail on the edge) for energy, edge-only for the
 * rest. The files do not change; the version does (it covers the plan), and the manifest is signed again.
 */
async function planOffloading(bundle: TestBundle): Promise<{ bundle: TestBundle; manifest: BundleManifest }> {
  const signed = await rewriteManifest(bundle.dir, (json) => offloadingPlan(json as unknown as BundleManifest));
  return { bundle: { ...bundle, version: signed.manifest.version }, manifest: signed.manifest };
}

function offloadingPlan(m: BundleManifest): void {
  const base = m.plan.ranges[0]!;
  const range = (over: Partial<PlanRange>): PlanRange => {
    const copy: PlanRange = { ...base, maxMbps: null, ...over };
    if (over.tailOn === undefined) delete copy.tailOn;
    return copy;
  };
  m.plan.objectives = ['latency', 'energy', 'balanced'];
  m.plan.ranges = [
    range({ objective: 'latency', minMbps: 0, maxMbps: 50, candidate: offloaded[1] }),
    range({ objective: 'latency', minMbps: 50, candidate: offloaded[0] }),
    range({ objective: 'energy', minMbps: 0, candidate: edgeTail, tailOn: 'edge' }),
    range({ objective: 'balanced', minMbps: 0, candidate: 'edge-only' }),
  ];
}

async function startReplica(settings: TailServiceSettings): Promise<Replica> {
  const conn = await connect({ servers: nats().url, name: settings.replica });
  const logs: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) => logs.push({ ...fields, msg, level });
  const service = createTailService({
    nc: conn,
    settings,
    logger: { info: at('info'), warn: at('warn'), error: at('error') },
  });
  await service.start();
  const replica = {
    service,
    logs,
    async close() {
      await service.close();
      await conn.close();
    },
  };
  replicas.push(replica);
  return replica;
}

const prewarmLine = (r: Replica, version: string) =>
  r.logs.find((l) => l.msg === 'tails prewarmed' && l['version'] === version);
const loadedLines = (r: Replica, version: string) =>
  r.logs.filter((l) => l.msg === 'tail loaded' && String(l['tail']).startsWith(`fmnist/${version}/`));
const address = (bundle: TestBundle, split: string): TailAddress => ({
  model: bundle.model,
  version: bundle.version,
  split,
});

/** One tail request with its round trip, checked against the tail run locally. */
async function firstOffload(prefix: string, bundle: TestBundle, split: string): Promise<number> {
  const cut = await runHead(bundle, split, exampleImages(2, 5), 2);
  const expected = await runTailLocally(bundle, split, cut);
  const at = address(bundle, split);
  const payload = inferRequest(at, `first-${split}`, cut);
  const started = performance.now();
  const reply = await requestTail(nc, prefix, at, payload);
  const ms = performance.now() - started;
  expect(maxAbsDiff(replyLogits(reply), expected)).toBeLessThan(1e-4);
  return ms;
}

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'cleave-prewarm-'));
  nc = await connect({ servers: nats().url });
  v1 = await buildExampleBundle(join(work, 'v1'));
  v2 = await buildExampleBundle(join(work, 'v2'), await writeVariantModel(join(work, 'variant.onnx')), {
    profilesFrom: v1,
  });
  const common = [...v1.splits.keys()].filter((id) => v2.splits.has(id));
  offloaded = [common[0]!, common.at(-1)!];
  expect(new Set(offloaded).size).toBe(2);
  edgeTail = common[Math.floor(common.length / 2)]!;
  ({ bundle: v1, manifest } = await planOffloading(v1));
  ({ bundle: v2 } = await planOffloading(v2));
  await publishBundle(nc, v1.dir, { prefix: nats().prefix });
}, 240_000);

afterAll(async () => {
  for (const r of replicas) await r.close().catch(() => undefined);
  await nc?.close();
});

describe('cloud replica prewarming', () => {
  let replica: Replica;

  it('loads and warms the plan’s cloud tails of the current version at start, before any request', async () => {
    replica = await startReplica(testServiceSettings(nats().prefix, 'warm'));
    await waitFor(() => prewarmLine(replica, v1.version) !== undefined, 'the prewarm of v1', 30_000);
    const line = prewarmLine(replica, v1.version)!;
    expect(line).toMatchObject({
      level: 'info',
      replica: 'warm',
      model: 'fmnist',
      splits: [offloaded[1], offloaded[0]], // plan order; the staged split and edge-only are not the cloud's
      warmed: [offloaded[1], offloaded[0]],
      skipped: [],
    });
    expect(line['ms']).toEqual(expect.any(Number));
    expect([...replica.service.status().tails].sort()).toEqual(
      offloaded.map((s) => `fmnist/${v1.version}/${s}`).sort(),
    );
    expect(loadedLines(replica, v1.version)).toHaveLength(2);
    // A bundle with shared weights: both tails read one weights file, held (and counted) once.
    if (manifest.weights !== undefined) {
      expect(replica.service.status().weights).toEqual([
        { sha256: manifest.files[manifest.weights.file]!.sha256, bytes: manifest.files[manifest.weights.file]!.bytes },
      ]);
    }

    await firstOffload(nats().prefix, v1, offloaded[0]);
    expect(loadedLines(replica, v1.version)).toHaveLength(2); // the request loaded nothing
  });

  it('prewarms a promoted version as soon as it becomes current, with the splits agents use beside the plan’s', async () => {
    // An agent pinned to the split the plan keeps on the edge offloads there: v1 loads it on demand.
    await firstOffload(nats().prefix, v1, edgeTail);
    await publishBundle(nc, v2.dir, { prefix: nats().prefix });
    await waitFor(() => prewarmLine(replica, v2.version) !== undefined, 'the prewarm of v2', 30_000);
    expect(prewarmLine(replica, v2.version)).toMatchObject({
      splits: [offloaded[1], offloaded[0], edgeTail],
      warmed: [offloaded[1], offloaded[0], edgeTail],
      skipped: [],
    });
    // Once per version, although both the announcement and the current-version watch told the replica.
    expect(replica.logs.filter((l) => l.msg === 'tails prewarmed' && l['version'] === v2.version)).toHaveLength(1);
    const before = loadedLines(replica, v2.version).length;
    await firstOffload(nats().prefix, v2, offloaded[1]);
    await firstOffload(nats().prefix, v2, edgeTail);
    expect(loadedLines(replica, v2.version)).toHaveLength(before);
    expect(replica.service.status().tails).toEqual(
      expect.arrayContaining(offloaded.map((s) => `fmnist/${v2.version}/${s}`)),
    );
  });

  it('stays within the tail memory budget, leaving what does not fit to load on demand', async () => {
    const prefix = `${nats().prefix}b`;
    await publishBundle(nc, v1.dir, { prefix });
    // Room for the first planned tail and the weights it reads, not for the second beside it.
    const weights = manifest.weights === undefined ? 0 : manifest.files[manifest.weights.file]!.bytes;
    const graph = (split: string) => manifest.files[manifest.candidates.find((c) => c.id === split)!.tail!]!.bytes;
    const [first, second] = [offloaded[1], offloaded[0]];
    const embedded = manifest.weights === undefined;
    const budget = embedded ? Math.max(graph(first), graph(second)) : weights + graph(first) + graph(second) - 1;
    expect(budget).toBeLessThan(graph(first) + graph(second) + weights);
    const tight = await startReplica(testServiceSettings(prefix, 'tight', { maxTailBytes: budget }));
    await waitFor(() => prewarmLine(tight, v1.version) !== undefined, 'the prewarm under a tight budget', 30_000);
    expect(prewarmLine(tight, v1.version)).toMatchObject({
      level: 'warn',
      warmed: [first],
      skipped: [{ split: second, reason: 'tail memory budget is full' }],
    });
    expect(tight.service.stats().loadedTailBytes).toBeLessThanOrEqual(budget);
    // Nothing is pinned once the prewarm is done: the tail it skipped loads on demand, in place of the other.
    await firstOffload(prefix, v1, second);
    expect(tight.service.status().tails).toEqual([`fmnist/${v1.version}/${second}`]);
  });

  it('with prewarming off, loads nothing until the first request asks', async () => {
    const prefix = `${nats().prefix}c`;
    const cold = await startReplica(testServiceSettings(prefix, 'cold', { prewarm: false }));
    await publishBundle(nc, v1.dir, { prefix });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cold.service.status().tails).toEqual([]);
    await firstOffload(prefix, v1, offloaded[0]);
    expect(loadedLines(cold, v1.version)).toHaveLength(1);
    expect(cold.logs.some((l) => l.msg === 'tails prewarmed')).toBe(false);
  });
});
