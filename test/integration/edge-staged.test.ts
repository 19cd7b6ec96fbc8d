// Staged execution planned by the partitioner: on the example model, a split whose exits answer most requests and
// whose tail runs on the device beats both edge-only and offloading. The agent follows that plan: easy inputs stop
// at an exit, hard ones finish on the device, nothing is sent, and the answers match the full model's.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient, lookupPlanRange } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type EdgeBundle,
  fashionSamples,
  fullModelLogits,
  maxAbsDiff,
  startTestAgent,
  type TestAgent,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let edge: TestAgent;

beforeAll(async () => {
  const { url, prefix } = nats();
  bundle = await buildEdgeBundle(await mkdtemp(join(tmpdir(), 'edge-staged-bundle-')), { rttMs: 20 });
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  // No cloud replica at all: a staged plan must not need one.
  edge = await startTestAgent({ natsUrl: url, prefix, config: { models: [{ id: 'fmnist', objective: 'latency' }] } });
  await edge.agent.whenServing('fmnist', bundle.version);
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await admin?.close();
});

describe('staged execution on the edge', () => {
  it('is what the plan picks at every bandwidth for the example model, with the tail on the edge', () => {
    for (const mbps of [0.13, 1.1, 5.85, 18.88, 100]) {
      const range = lookupPlanRange(bundle.manifest.plan, 'latency', mbps)!;
      expect(range, `${mbps} Mbps`).toMatchObject({ tailOn: 'edge' });
      const candidate = bundle.manifest.candidates.find((c) => c.id === range.candidate)!;
      expect(candidate.exitRate).toBeGreaterThan(0.5);
      expect(range.expectedLatencyMs).toBeLessThan(
        bundle.manifest.candidates.find((c) => c.kind === 'edge-only')!.profile.edge!.medianMs,
      );
    }
  });

  it('answers easy inputs at an exit and hard ones on the device, sending nothing, equal to the full model', async () => {
    const { images } = await fashionSamples(200);
    const reference = await fullModelLogits(bundle, images);
    const client = new EdgeClient({ url: edge.agent.httpUrl! });
    const answers = [];
    for (const image of images)
      answers.push(await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } }));
    expect(answers.every((a) => a.ranOn === 'edge' && a.fallbackReason === null)).toBe(true);
    expect(answers.every((a) => a.bytes.sent === 0)).toBe(true);
    const early = answers.filter((a) => a.exit !== null).length;
    const finished = answers.filter((a) => a.exit === null);
    expect(early).toBeGreaterThan(100);
    expect(finished.length).toBeGreaterThan(0);
    // A request no exit answered ran head then tail here: the full model's logits.
    answers.forEach((a, i) => {
      if (a.exit === null)
        expect(maxAbsDiff(a.outputs['logits']!.data as Float32Array, reference[i]!)).toBeLessThan(1e-4);
    });
  });
});
