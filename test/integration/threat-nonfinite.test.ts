// Threat: non-finite inputs. NaN and ±Infinity are refused the same way on all three paths a tensor can take: the
// edge agent's API in JSON, the same API in msgpack (numbers, or float32 bytes in a bin, over HTTP and over NATS),
// and the cloud tail subject (f32 and f16 tensors, int8 with a NaN scale). Each path refuses every such request
// with a 4xx (edge) or `bad_request` (cloud) naming the bad element, and still serves a clean request after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { EdgeClient, EdgeClientError } from '@cleave/edge-agent/client';
import { agentInferSubject, decodeMessage, encodeTensor, type Message, seededRandom, tailSubject } from '@cleave/proto';
import { exampleImages, inferRequest, packMsgpack, type TestBundle, useTestNats } from '../harness/mod.js';
import { type SplitRig, startSplitRig } from '../harness/split-rig.js';

const PER_PATH = 60;
const BAD_VALUES = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] as const;

const nats = useTestNats();
let nc: NatsConnection;
let bundle: TestBundle;
let agent: SplitRig['agent'];
let split: string;
let cut: SplitRig['cut'];

let rig: SplitRig;

beforeAll(async () => {
  rig = await startSplitRig(nats(), 'finite');
  ({ nc, bundle, split, cut, agent } = rig);
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

/** An image with one element replaced by a non-finite value, chosen by `i`. */
function poisoned(i: number): { image: Float32Array; at: number; value: number } {
  const random = seededRandom(100 + i);
  const image = exampleImages(1, i);
  const at = Math.floor(random() * image.length);
  const value = BAD_VALUES[i % BAD_VALUES.length]!;
  image[at] = value;
  return { image, at, value };
}

interface Outcome {
  readonly refused: boolean;
  readonly message: string;
}

async function postEdge(body: string | Uint8Array, contentType: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${agent.agent.httpUrl!}/v1/models/fmnist/infer`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  const text = new TextDecoder().decode(await res.arrayBuffer());
  return { status: res.status, body: contentType.includes('json') ? (JSON.parse(text) as unknown) : text };
}

const errorOf = (body: unknown) => (body as { error?: { code: string; message: string } }).error;

/** The edge API's msgpack error body, read without a msgpack decoder: its code is a plain string in it. */
const msgpackErrorCode = (text: string) => /bad_dtype|bad_body|bad_shape/.exec(text)?.[0];

describe('threat: non-finite inputs', () => {
  it('refuses NaN and ±Infinity on edge JSON, edge msgpack and the cloud, and serves clean requests after', async () => {
    const edgeJson: Outcome[] = [];
    const edgeMsgpack: Outcome[] = [];
    const edgeNats: Outcome[] = [];
    const cloud: Outcome[] = [];
    for (let i = 0; i < PER_PATH; i += 1) {
      const { image, at, value } = poisoned(i);
      // JSON has no NaN or Infinity: a client writes them as 1e999 (parsed as Infinity), a string, or a bare token.
      const spelling = ['1e999', '-1e999', '"NaN"', 'NaN'][i % 4]!;
      const numbers = Array.from(image, (x, k) => (k === at ? spelling : String(x))).join(',');
      const json = `{"inputs":{"input":{"dims":[1,1,28,28],"data":[${numbers}]}}}`;
      const j = await postEdge(json, 'application/json');
      edgeJson.push({
        refused: j.status >= 400 && j.status < 500,
        message: errorOf(j.body)?.message ?? `status ${j.status}`,
      });

      // msgpack: float32 bytes in a bin (through the TypeScript client) on even i, float64 numbers on odd i.
      if (i % 2 === 0) {
        const client = new EdgeClient({ url: agent.agent.httpUrl!, format: 'msgpack' });
        const outcome = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } }).then(
          () => ({ refused: false, message: 'served' }),
          (error: unknown) => ({
            refused: error instanceof EdgeClientError && error.code === 'bad_dtype',
            message: (error as Error).message,
          }),
        );
        edgeMsgpack.push(outcome);
      } else {
        const packed = packMsgpack({ inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(image) } } });
        const m = await postEdge(packed, 'application/msgpack');
        edgeMsgpack.push({ refused: m.status === 400, message: String(m.body).slice(0, 200) });
      }
      const h = natsHeaders();
      h.set('content-type', 'application/msgpack');
      const viaNats = await nc.request(
        agentInferSubject(nats().prefix, 'gw-test', 'fmnist'),
        packMsgpack({ inputs: { input: { dims: [1, 1, 28, 28], data: new Uint8Array(image.buffer) } } }),
        { timeout: 10_000, headers: h },
      );
      const code = msgpackErrorCode(new TextDecoder().decode(viaNats.data));
      edgeNats.push({ refused: code === 'bad_dtype', message: code ?? 'served' });

      // The cloud: the cut tensor with a non-finite element, in f32, in f16, or int8 with a NaN scale.
      const at2 = Math.floor(seededRandom(7 + i)() * cut[0]!.data.length);
      const bad = cut.map((t) => ({ ...t, data: Float32Array.from(t.data) }));
      bad[0]!.data[at2] = value;
      const address = { model: bundle.model, version: bundle.version, split };
      const payload =
        i % 3 === 2
          ? packMsgpack({
              kind: 'infer',
              v: 1,
              id: `int8-${i}`,
              ...address,
              sentAt: 1,
              tensors: [
                {
                  ...encodeTensor(cut[0]!.name, cut[0]!.data, cut[0]!.dims, 'int8'),
                  scale: [Number.NaN],
                  zeroPoint: [0],
                },
              ],
            })
          : inferRequest(address, `nf-${i}`, bad, { encoding: i % 3 === 0 ? 'f32' : 'f16' });
      const reply: Message = decodeMessage(
        (await nc.request(tailSubject({ prefix: nats().prefix, ...address }), payload, { timeout: 10_000 })).data,
      );
      cloud.push({
        refused: reply.kind === 'error' && reply.code === 'bad_request',
        message: reply.kind === 'error' ? reply.message : reply.kind,
      });
    }
    const clean = { inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(exampleImages(1, 9)) } } };
    const after = await postEdge(JSON.stringify(clean), 'application/json');
    const cleanCloud = decodeMessage(
      (
        await nc.request(
          tailSubject({ prefix: nats().prefix, model: bundle.model, version: bundle.version, split }),
          inferRequest({ model: bundle.model, version: bundle.version, split }, 'clean', cut),
          { timeout: 10_000 },
        )
      ).data,
    );

    const count = (outcomes: Outcome[]) => outcomes.filter((o) => o.refused).length;
    console.log(
      `non-finite inputs refused: edge JSON ${count(edgeJson)} of ${PER_PATH}, edge msgpack over HTTP ` +
        `${count(edgeMsgpack)} of ${PER_PATH}, edge msgpack over NATS ${count(edgeNats)} of ${PER_PATH}, cloud ` +
        `${count(cloud)} of ${PER_PATH}; clean requests after: edge ${after.status}, cloud ${cleanCloud.kind}`,
    );
    console.log(`  e.g. edge: ${edgeMsgpack[0]!.message}; cloud: ${cloud[0]!.message}; int8: ${cloud[2]!.message}`);
    for (const outcomes of [edgeJson, edgeMsgpack, edgeNats, cloud]) {
      expect(outcomes.filter((o) => !o.refused).map((o) => o.message)).toEqual([]);
    }
    expect(edgeMsgpack[0]!.message).toMatch(/element \d+ is (NaN|Infinity|-Infinity)/);
    expect(cloud[0]!.message).toMatch(/element \d+ is (NaN|Infinity|-Infinity); float tensors must be finite/);
    expect(after.status).toBe(200);
    expect(cleanCloud.kind).toBe('infer_reply');
  }, 120_000);
});
