// Replies over the server's max_payload, on a nats-server that allows only 64 KiB: a model whose `wide` output is
// 80 kB a sample in f32 (40 kB in f16) with a cut of a few dozen bytes. The cloud never fails silently (an error
// reply `reply_too_large` naming the size and the limit, never a NATS error and a timeout), the agent never picks a
// codec whose reply cannot fit, and a reply too large for a batch falls back locally without counting against the
// cloud's health.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type EmbeddedNats, startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import {
  allocateArray,
  type Codec,
  encodeAnyTensor,
  encodeMessage,
  isTensorDtype,
  PROTOCOL_VERSION,
  type SplitCandidate,
} from '@cleave/proto';
import { requestTail, startTestAgent, startTestReplica, type TestAgent, testServiceSettings } from '../harness/mod.js';
import {
  maxDiff,
  type MultiBundle,
  multiInputs,
  partitionMulti,
  referenceOutputs,
  writeMultiOutputModel,
} from './multi-output-fixture.js';

const LIMIT = 64 * 1024;
const WIDE = 20_000;
const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let server: EmbeddedNats;
let modelPath: string;
let bundle: MultiBundle;
let split: SplitCandidate;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let edge: TestAgent;

beforeAll(async () => {
  server = await startEmbeddedNats({ maxPayloadBytes: LIMIT });
  const dir = await mkdtemp(join(tmpdir(), 'reply-too-large-'));
  modelPath = await writeMultiOutputModel(join(dir, 'wide.onnx'), { wide: WIDE });
  bundle = await partitionMulti(modelPath, join(dir, 'bundle'), 'wide', { maxPayloadBytes: LIMIT });
  const found = bundle.manifest.candidates.find((c) => c.kind === 'split');
  if (found === undefined) throw new Error(`bundle ${bundle.version} has no split candidate`);
  split = found;
  admin = await connect({ servers: server.url });
  await publishBundle(admin, bundle.dir, { prefix });
  replica = await startTestReplica(server.url, testServiceSettings(prefix, 'r1'));
  edge = await startTestAgent({
    natsUrl: server.url,
    prefix,
    // f32 is forced, but its replies cannot fit this server: the agent must not use it.
    config: {
      agentId: 'gw-wide',
      models: [{ id: 'wide', pin: split.id, codec: 'f32' }],
      policy: { deadlineMs: 10_000 },
    },
  });
  await edge.agent.whenServing('wide', bundle.version);
}, 180_000);

afterAll(async () => {
  await edge?.close();
  await replica?.close();
  await admin?.close();
  await server?.stop();
});

/** A tail request for the split carrying zeros of its cut, `samples` of them, in `codec`. */
function tailRequest(id: string, codec: Codec, samples: number): Uint8Array {
  return encodeMessage({
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id,
    model: 'wide',
    version: bundle.version,
    split: split.id,
    tensors: split.cutTensors.map((spec) => {
      const dims = spec.shape.map((d) => (typeof d === 'number' ? d : samples));
      const dtype = isTensorDtype(spec.dtype) ? spec.dtype : 'float32';
      const data = allocateArray(
        dtype,
        dims.reduce((a, b) => a * b, 1),
      );
      return encodeAnyTensor(spec.name, data, dims, codec, dtype);
    }),
    sentAt: Date.now(),
  });
}

const address = () => ({ model: 'wide', version: bundle.version, split: split.id });

describe('replies over max_payload', () => {
  it('are priced into the manifest: the split f32 reply is over the limit, its f16 reply under it', () => {
    const reply = split.replyBytesPerSample!;
    expect(reply.f32).toBe(8 + 24 + 20 + WIDE * 4);
    expect(reply.f32).toBeGreaterThan(LIMIT);
    expect(reply.f16).toBeLessThan(LIMIT);
  });

  it('get an error reply reply_too_large from the cloud naming size and limit, and f16 still gets outputs', async () => {
    const refused = await requestTail(admin, prefix, address(), tailRequest('big-1', 'f32', 1));
    expect(refused).toMatchObject({ kind: 'error', id: 'big-1', code: 'reply_too_large', retryable: false });
    expect(refused.kind === 'error' && refused.message).toMatch(
      new RegExp(
        `is \\d+ bytes, over the connection's max_payload of ${LIMIT} bytes \\(outputs .*wide float32\\[1, ${WIDE}\\]`,
      ),
    );
    const answered = await requestTail(admin, prefix, address(), tailRequest('small-1', 'f16', 1));
    expect(answered.kind).toBe('infer_reply');
    if (answered.kind !== 'infer_reply') return;
    expect(answered.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
      ['score', 'float32', [1, 2]],
      ['top_ids', 'int64', [1, 3]],
      ['embed', 'float32', [1, 5]],
      ['wide', 'float32', [1, WIDE]],
    ]);
    // The replica is fine after refusing: it answers the next request at once.
    expect(replica.service.health().ready).toBe(true);
  });

  it('make the agent use f16 instead of the forced f32, and the answer comes from the cloud', async () => {
    expect(edge.agent.modelStatus('wide')?.decision).toMatchObject({ split: split.id, codec: 'f16', tailOn: 'cloud' });
    const inputs = multiInputs(1, 4);
    const r = await new EdgeClient({ url: edge.agent.httpUrl! }).infer('wide', { ...inputs });
    expect(r).toMatchObject({ ranOn: 'cloud', codec: 'f16', fallbackReason: null });
    expect(Object.keys(r.outputs)).toEqual(['score', 'top_ids', 'embed', 'wide']);
    expect(r.outputs['wide']!.dims).toEqual([1, WIDE]);
    const reference = await referenceOutputs(modelPath, inputs);
    // f16 on the way out and back: values within f16 precision of the full model's.
    expect(maxDiff(r.outputs['wide']!.data as Float32Array, reference['wide']!.data as Float32Array)).toBeLessThan(
      5e-3,
    );
  });

  it('fall back locally for a batch whose reply cannot fit, as a plan problem: the circuit stays closed', async () => {
    const client = new EdgeClient({ url: edge.agent.httpUrl! });
    // 4 samples × 40 kB of f16 reply: over 64 KiB even though each sample fits.
    for (let k = 0; k < 5; k += 1) {
      const inputs = multiInputs(4, 30 + k);
      const r = await client.infer('wide', { ...inputs });
      expect(r).toMatchObject({ ranOn: 'fallback', fallbackReason: 'reply_too_large', exit: null });
      // The request went out and an error reply came back: both are on the books.
      expect(r.bytes.sent).toBeGreaterThan(0);
      expect(r.bytes.received).toBeGreaterThan(0);
      const reference = await referenceOutputs(modelPath, inputs);
      expect(maxDiff(r.outputs['wide']!.data as Float32Array, reference['wide']!.data as Float32Array)).toBeLessThan(
        1e-5,
      );
      expect(Array.from(r.outputs['top_ids']!.data as BigInt64Array)).toEqual(
        Array.from(reference['top_ids']!.data as BigInt64Array),
      );
    }
    // More refusals than the breaker's failure threshold (3), and still closed: the cloud is healthy.
    expect(edge.agent.status().breaker).toBe('closed');
    const after = await client.infer('wide', { ...multiInputs(1, 40) });
    expect(after).toMatchObject({ ranOn: 'cloud', fallbackReason: null });
  });
});
