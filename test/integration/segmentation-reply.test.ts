// A dense reply over max_payload, on the ESPNet-style segmenter (19 × 128 × 256 logits: 2.5 MB a sample in f32,
// 1.25 MB in f16) and a nats-server that allows 2 MiB. The plan never offers an option whose reply cannot fit, the
// agent offloads with the f16 reply codec instead, and the outputs stay within f16's documented error
// (max |a − b| ≤ 2⁻¹¹ × max |a|, proto/README.md) of the full model's.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type EmbeddedNats, startEmbeddedNats } from '@cleave/cli';
import { EdgeClient } from '@cleave/edge-agent';
import { publishBundle } from '@cleave/node-runtime';
import {
  ensureFamilyModel,
  fullModelOutputs,
  partitionForServing,
  relativeDifference,
  servingInputs,
  startTestAgent,
  startTestReplica,
  testServiceSettings,
  type EdgeBundle,
  type TestAgent,
} from '../harness/mod.js';

const LIMIT = 2 * 1024 * 1024;
const F16_RELATIVE_ERROR = 2 ** -11;
const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let server: EmbeddedNats;
let bundle: EdgeBundle;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let edge: TestAgent;

beforeAll(async () => {
  server = await startEmbeddedNats({ maxPayloadBytes: LIMIT });
  const dir = await mkdtemp(join(tmpdir(), 'segmentation-reply-'));
  bundle = await partitionForServing(await ensureFamilyModel('espnet_seg'), dir, {
    modelId: 'espnet',
    maxPayloadBytes: LIMIT,
  });
  admin = await connect({ servers: server.url });
  await publishBundle(admin, bundle.dir, { prefix });
  replica = await startTestReplica(server.url, testServiceSettings(prefix, 'r1'));
  edge = await startTestAgent({
    natsUrl: server.url,
    prefix,
    config: { agentId: 'gw-seg', models: [{ id: 'espnet', pin: 'cloud-only' }], policy: { deadlineMs: 30_000 } },
  });
  await edge.agent.whenServing('espnet', bundle.version);
}, 180_000);

afterAll(async () => {
  await edge?.close();
  await replica?.close();
  await admin?.close();
  await server?.stop();
});

describe('a segmentation reply over max_payload', () => {
  it('is priced: every offloading candidate records its reply bytes, and f32 replies exceed the limit', () => {
    expect(bundle.manifest.model.task).toBe('segmentation');
    for (const c of bundle.manifest.candidates.filter((x) => x.kind !== 'edge-only')) {
      expect(c.replyBytesPerSample?.f32, c.id).toBe(19 * 128 * 256 * 4);
      expect(c.replyBytesPerSample?.f16, c.id).toBe(19 * 128 * 256 * 2);
    }
  });

  it('is never planned: no range offloads with a codec whose reply cannot fit', () => {
    const offloading = bundle.manifest.plan.ranges.filter(
      (r) => r.tailOn !== 'edge' && bundle.manifest.candidates.find((c) => c.id === r.candidate)?.kind !== 'edge-only',
    );
    for (const r of offloading) expect(r.codec, `${r.objective} ${r.minMbps} Mbps`).not.toBe('f32');
  });

  it('offloads with the f16 reply codec, within its documented error of the full model', async () => {
    const inputs = servingInputs(bundle.manifest, 1);
    const reference = await fullModelOutputs(bundle, inputs);
    const answer = await new EdgeClient({ url: edge.agent.httpUrl! }).infer('espnet', inputs, { deadlineMs: 30_000 });
    expect(answer.ranOn, JSON.stringify(answer.fallbackReason)).toBe('cloud');
    expect(answer.codec).not.toBe('f32');
    const got = answer.outputs['seg_logits']!;
    expect(got.dims).toEqual([1, 19, 128, 256]);
    const error = relativeDifference(reference['seg_logits']!, got);
    expect(error).toBeGreaterThan(0);
    expect(error).toBeLessThanOrEqual(F16_RELATIVE_ERROR);
    expect(answer.bytes.received).toBeLessThan(LIMIT);
  });
});
