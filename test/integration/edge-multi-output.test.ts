// A model with three inputs (float32, int64 token-id-like, bool mask-like) and three final outputs (float32,
// int64 TopK indices, float32) through every path: edge-only, a split whose tail runs on a real cloud replica,
// cloud-only, and the fallback when the replica is gone. Every path answers with every output, named, typed and
// shaped as the model declares them, equal to onnxruntime on the full model; over HTTP (JSON and msgpack) and the
// NATS API. Bad int, bool and float inputs are refused with a 400 that names the input.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { type ClientResult, EdgeClient, EdgeClientError } from '@cleave/edge-agent';
import { agentInferSubject } from '@cleave/proto';
import { startTestAgent, startTestReplica, type TestAgent, testServiceSettings, useTestNats } from '../harness/mod.js';
import {
  maxDiff,
  type MultiBundle,
  multiInputs,
  partitionMulti,
  referenceOutputs,
  writeMultiOutputModel,
} from './multi-output-fixture.js';

const nats = useTestNats();
let modelPath: string;
let bundle: MultiBundle;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>> | undefined;
const agents: Record<'edge' | 'split' | 'cloud', TestAgent | undefined> = {
  edge: undefined,
  split: undefined,
  cloud: undefined,
};
let splitId: string;

const FINALS = ['score', 'top_ids', 'embed'];
const EXPECTED = { score: ['float32', 2], top_ids: ['int64', 3], embed: ['float32', 5] } as const;

beforeAll(async () => {
  const { url, prefix } = nats();
  const dir = await mkdtemp(join(tmpdir(), 'edge-multi-'));
  modelPath = await writeMultiOutputModel(join(dir, 'multi.onnx'));
  bundle = await partitionMulti(modelPath, join(dir, 'bundle'), 'multi');
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  replica = await startTestReplica(url, testServiceSettings(prefix, 'r1'));
  const split = bundle.manifest.candidates.find((c) => c.kind === 'split');
  if (split === undefined) throw new Error(`bundle ${bundle.version} has no split candidate`);
  splitId = split.id;
  const start = (agentId: string, pin: string) =>
    startTestAgent({
      natsUrl: url,
      prefix,
      // f32 on the wire: the cloud's TopK sees exactly the head's values, so its indices equal the full model's.
      config: { agentId, models: [{ id: 'multi', pin, codec: 'f32' }], policy: { deadlineMs: 10_000 } },
    });
  agents.edge = await start('gw-edge', 'edge-only');
  agents.split = await start('gw-split', splitId);
  agents.cloud = await start('gw-cloud', 'cloud-only');
  for (const a of Object.values(agents)) await a!.agent.whenServing('multi', bundle.version);
}, 180_000);

afterAll(async () => {
  for (const a of Object.values(agents)) await a?.close();
  await replica?.close();
  await admin?.close();
});

const client = (which: keyof typeof agents, format: 'json' | 'msgpack') =>
  new EdgeClient({ url: agents[which]!.agent.httpUrl!, format });

async function expectAllOutputs(result: Pick<ClientResult, 'outputs'>, seed: number, batch: number): Promise<void> {
  const reference = await referenceOutputs(modelPath, multiInputs(batch, seed));
  expect(Object.keys(result.outputs).sort()).toEqual([...FINALS].sort());
  for (const name of FINALS) {
    const out = result.outputs[name]!;
    const [dtype, width] = EXPECTED[name as keyof typeof EXPECTED];
    expect(out.dtype, name).toBe(dtype);
    expect(out.dims, name).toEqual([batch, width]);
    if (dtype === 'int64') {
      expect(out.data, name).toBeInstanceOf(BigInt64Array);
      expect(Array.from(out.data as BigInt64Array), name).toEqual(Array.from(reference[name]!.data as BigInt64Array));
    } else {
      expect(out.data, name).toBeInstanceOf(Float32Array);
      expect(maxDiff(out.data as Float32Array, reference[name]!.data as Float32Array), name).toBeLessThan(1e-5);
    }
  }
}

describe('a model with int64 and bool inputs and three final outputs', () => {
  it('lists every non-exit output as final, and prices each candidate reply from the outputs', () => {
    expect(bundle.manifest.model.outputs.map((o) => o.name)).toEqual(FINALS);
    const split = bundle.manifest.candidates.find((c) => c.id === splitId)!;
    // score 2 floats, top_ids 3 int64 (raw under every codec), embed 5 floats; an int8 request is answered in f16.
    expect(split.replyBytesPerSample).toMatchObject({ f32: 8 + 24 + 20, f16: 4 + 24 + 10, int8: 4 + 24 + 10 });
  });

  it.each([
    ['edge', 'edge-only runs it all on the device', 'edge', null],
    ['split', 'the split offloads its tail to the replica', 'cloud', 'f32'],
    ['cloud', 'cloud-only sends the int64 and bool inputs raw', 'cloud', 'f32'],
  ] as const)('%s: %s and answers every output, in msgpack and JSON', async (which, _what, ranOn, codec) => {
    for (const format of ['msgpack', 'json'] as const) {
      const batch = format === 'json' ? 1 : 3;
      const seed = which.length * 10 + batch;
      const r = await client(which, format).infer('multi', { ...multiInputs(batch, seed) });
      expect(r, `${which} ${format}`).toMatchObject({ ranOn, codec, exit: null, fallbackReason: null });
      await expectAllOutputs(r, seed, batch);
      if (ranOn === 'cloud') {
        expect(r.replica).toBe('r1');
        expect(r.bytes.sent).toBeGreaterThan(0);
        expect(r.bytes.received).toBeGreaterThan(0);
      } else expect(r.bytes).toEqual({ sent: 0, received: 0 });
    }
  });

  it('takes int64 as numbers or decimal strings and bool as true/false in JSON, and answers the same', async () => {
    const inputs = multiInputs(2, 5);
    const body = {
      inputs: {
        x: { dims: inputs.x.dims, data: Array.from(inputs.x.data) },
        ids: { dims: inputs.ids.dims, data: Array.from(inputs.ids.data, (v, i) => (i % 2 ? v.toString() : Number(v))) },
        flag: { dims: inputs.flag.dims, data: Array.from(inputs.flag.data, (v) => v === 1) },
      },
    };
    for (const which of ['edge', 'split', 'cloud'] as const) {
      const response = await fetch(`${agents[which]!.agent.httpUrl!}/v1/models/multi/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, which).toBe(200);
      const json = (await response.json()) as {
        outputs: Record<string, { dtype: string; dims: number[]; data: (number | string)[] }>;
      };
      // JSON replies: int64 as numbers (decimal strings beyond 2^53), floats as numbers.
      const outputs = Object.fromEntries(
        Object.entries(json.outputs).map(([name, o]) => [
          name,
          {
            dtype: o.dtype,
            dims: o.dims,
            data:
              o.dtype === 'int64' ? BigInt64Array.from(o.data, (v) => BigInt(v)) : Float32Array.from(o.data, Number),
          },
        ]),
      );
      await expectAllOutputs({ outputs } as Pick<ClientResult, 'outputs'>, 5, 2);
    }
  });

  it('answers every output on the NATS API too', async () => {
    const inputs = multiInputs(2, 9);
    const body = JSON.stringify({
      inputs: {
        x: { dims: inputs.x.dims, data: Array.from(inputs.x.data) },
        ids: { dims: inputs.ids.dims, data: Array.from(inputs.ids.data, Number) },
        flag: { dims: inputs.flag.dims, dtype: 'bool', data: Array.from(inputs.flag.data) },
      },
    });
    const h = natsHeaders();
    h.set('content-type', 'application/json');
    const msg = await admin.request(agentInferSubject(nats().prefix, 'gw-split', 'multi'), body, {
      timeout: 10_000,
      headers: h,
    });
    const reply = JSON.parse(new TextDecoder().decode(msg.data)) as {
      ranOn: string;
      outputs: Record<string, { dtype: string; dims: number[]; data: number[] }>;
    };
    expect(reply.ranOn).toBe('cloud');
    const outputs = Object.fromEntries(
      Object.entries(reply.outputs).map(([name, o]) => [
        name,
        {
          ...o,
          data: o.dtype === 'int64' ? BigInt64Array.from(o.data, (v) => BigInt(v)) : Float32Array.from(o.data),
        },
      ]),
    );
    await expectAllOutputs({ outputs } as Pick<ClientResult, 'outputs'>, 9, 2);
  });

  it.each([
    [
      'NaN in a float input (msgpack bytes)',
      'msgpack',
      (i: ReturnType<typeof multiInputs>) => ({ ...i, x: { ...i.x, data: Float32Array.of(Number.NaN, 0, 0, 0) } }),
      /input "x" is float32; element 0 is NaN/,
    ],
    [
      'a float tensor for the int64 input',
      'msgpack',
      (i: ReturnType<typeof multiInputs>) => ({
        ...i,
        ids: { dims: [1, 3], dtype: 'float32' as const, data: Float32Array.of(1, 2, 3) },
      }),
      /input "ids" must be int64; got float32/,
    ],
    [
      'a fractional id in JSON',
      'json',
      (i: ReturnType<typeof multiInputs>) => ({ ...i, ids: { dims: [1, 3], data: [1, 2.5, 3] } }),
      /input "ids" is int64; data\[1\] is not an integer/,
    ],
    [
      'a bool of 2 in JSON',
      'json',
      (i: ReturnType<typeof multiInputs>) => ({ ...i, flag: { dims: [1, 1], data: [2] } }),
      /input "flag" is bool; data\[0\] is 2/,
    ],
  ] as const)('refuses %s with a 400 naming the input', async (_what, format, change, message) => {
    const error = await client('split', format)
      .infer('multi', change(multiInputs(1, 3)) as never)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(EdgeClientError);
    expect(error).toMatchObject({ status: 400, code: 'bad_dtype' });
    expect((error as Error).message).toMatch(message);
  });

  // Last: it stops the replica.
  it('falls back with every output when the replica is gone, reporting the bytes the offload really sent', async () => {
    await replica!.close();
    replica = undefined;
    for (const which of ['split', 'cloud'] as const) {
      const r = await client(which, 'msgpack').infer('multi', { ...multiInputs(3, 21) });
      expect(r, which).toMatchObject({ ranOn: 'fallback', exit: null, replica: null });
      expect(['no_responders', 'timeout'], which).toContain(r.fallbackReason);
      // The request was encoded and handed to NATS before the cloud failed to answer: those bytes count.
      expect(r.bytes.sent, which).toBeGreaterThan(3 * 4 * 8);
      expect(r.bytes.received, which).toBe(0);
      await expectAllOutputs(r, 21, 3);
    }
  });
});
