// The edge agent's local APIs against a real nats-server and a real cloud replica: HTTP (JSON and msgpack, through
// the TypeScript client), the same API on NATS, bad input, heartbeats, trace headers, live policies, and a restart
// with no network that serves from the disk cache.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { connect, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient, EdgeClientError } from '@cleave/edge-agent';
import {
  agentInferSubject,
  bucketNames,
  DEADLINE_HEADER,
  decodeMessage,
  heartbeatSubject,
  type Message,
  parseTraceparent,
  tailWildcard,
} from '@cleave/proto';
import {
  type EdgeBundle,
  fashionSamples,
  fullModelLogits,
  maxAbsDiff,
  splitWithAllExits,
  splitWithoutExits,
  startTestAgent,
  startTestReplica,
  type TestAgent,
  testServiceSettings,
  buildEdgeBundle,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let edge: TestAgent;
let client: EdgeClient;
let samples: { images: Float32Array[]; labels: number[] };
let reference: Float32Array[];
let pinned: string;

beforeAll(async () => {
  const { url, prefix } = nats();
  bundle = await buildEdgeBundle(await mkdtemp(join(tmpdir(), 'edge-api-bundle-')));
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  replica = await startTestReplica(url, testServiceSettings(prefix, 'r1'));
  // A split without exits: every request crosses the wire, so the cloud path is what these tests see.
  pinned = splitWithoutExits(bundle.manifest).id;
  edge = await startTestAgent({
    natsUrl: url,
    prefix,
    config: { models: [{ id: 'fmnist', pin: pinned }], maxBodyBytes: '64KiB', policy: { deadlineMs: 2000 } },
  });
  await edge.agent.whenServing('fmnist', bundle.version);
  client = new EdgeClient({ url: edge.agent.httpUrl! });
  samples = await fashionSamples(12);
  reference = await fullModelLogits(bundle, samples.images);
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await replica?.close();
  await admin?.close();
});

const input = (image: Float32Array) => ({ input: { dims: [1, 1, 28, 28], data: image } });

describe('edge agent local API', () => {
  it('answers over HTTP in msgpack and JSON: outputs equal the full model, with split, version and timings', async () => {
    for (const format of ['msgpack', 'json'] as const) {
      const c = new EdgeClient({ url: edge.agent.httpUrl!, format });
      for (const [i, image] of samples.images.entries()) {
        const r = await c.infer('fmnist', input(image));
        expect(r).toMatchObject({
          model: 'fmnist',
          version: bundle.version,
          split: pinned,
          ranOn: 'cloud',
          exit: null,
        });
        expect(r.tailVersion).toBe(r.version);
        expect(r.codec).toBe('f32');
        expect(r.timings['totalMs']).toBeGreaterThan(0);
        expect(r.bytes.sent).toBeGreaterThan(0);
        expect(maxAbsDiff(r.outputs['logits']!.data as Float32Array, reference[i]!)).toBeLessThan(1e-4);
      }
    }
  });

  it('serves the same API on NATS, with errors as data', async () => {
    const subject = agentInferSubject(nats().prefix, 'gw-test', 'fmnist');
    const body = JSON.stringify({ inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(samples.images[0]!) } } });
    const ask = async (payload: string) =>
      JSON.parse(new TextDecoder().decode((await admin.request(subject, payload, { timeout: 5000 })).data)) as {
        version?: string;
        outputs?: { logits: { data: number[] } };
        error?: { code: string; status: number };
      };
    const reply = await ask(body);
    expect(reply).toMatchObject({ version: bundle.version, split: pinned });
    expect(maxAbsDiff(Float32Array.from(reply.outputs!.logits.data), reference[0]!)).toBeLessThan(1e-4);
    const bad = await ask('{"inputs": 3}');
    expect(bad.error).toMatchObject({ code: 'bad_body', status: 400 });
  });

  describe('bad input: a 4xx with a clear message, and the agent keeps serving', () => {
    const cases: [string, string, object | string, number, string, RegExp][] = [
      [
        'wrong shape',
        'fmnist',
        { inputs: { input: { dims: [1, 784], data: new Array(784).fill(0) } } },
        400,
        'bad_shape',
        /input "input" must have shape \[N, 1, 28, 28\]; got \[1, 784\]/,
      ],
      [
        'wrong dtype',
        'fmnist',
        { inputs: { input: { dims: [1, 1, 28, 28], dtype: 'int64', data: new Array(784).fill(0) } } },
        400,
        'bad_dtype',
        /must be float32; got int64/,
      ],
      [
        'values that are not numbers',
        'fmnist',
        { inputs: { input: { dims: [1, 1, 28, 28], data: new Array(784).fill('x') } } },
        400,
        'bad_dtype',
        /not a finite number/,
      ],
      [
        'unknown model',
        'resnet',
        { inputs: {} },
        404,
        'unknown_model',
        /"resnet" is not served here; this agent serves fmnist/,
      ],
      [
        'body over the size limit',
        'fmnist',
        { inputs: { input: { dims: [30, 1, 28, 28], data: new Array(30 * 784).fill(0.5) } } },
        413,
        'too_large',
        /larger than the limit of 65536 bytes/,
      ],
      ['malformed JSON', 'fmnist', '{"inputs": {', 400, 'bad_body', /not valid JSON/],
    ];
    it.each(cases)('%s', async (_name, model, body, status, code, message) => {
      const res = await fetch(`${edge.agent.httpUrl}/v1/models/${model}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      expect(res.status).toBe(status);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toBe(code);
      expect(json.error.message).toMatch(message);
      const after = await client.infer('fmnist', input(samples.images[1]!));
      expect(maxAbsDiff(after.outputs['logits']!.data as Float32Array, reference[1]!)).toBeLessThan(1e-4);
      expect(edge.agent.health()).toMatchObject({ live: true, ready: true });
    });

    it('reads a chunked body (no Content-Length) with the same limit: a small one is served, a big one is 413', async () => {
      const chunked = (text: string, pieces: number) => {
        const bytes = new TextEncoder().encode(text);
        const step = Math.ceil(bytes.length / pieces);
        return new ReadableStream<Uint8Array>({
          start(controller) {
            for (let at = 0; at < bytes.length; at += step) controller.enqueue(bytes.subarray(at, at + step));
            controller.close();
          },
        });
      };
      const post = (text: string, pieces: number) =>
        fetch(`${edge.agent.httpUrl}/v1/models/fmnist/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: chunked(text, pieces),
          duplex: 'half',
        });
      const small = JSON.stringify({
        inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(samples.images[0]!) } },
      });
      const ok = await post(small, 7);
      expect(ok.status).toBe(200);
      const served = (await ok.json()) as { outputs: Record<string, { data: number[] }> };
      expect(maxAbsDiff(Float32Array.from(served.outputs['logits']!.data), reference[0]!)).toBeLessThan(1e-4);
      const big = JSON.stringify({ inputs: { input: { dims: [30, 1, 28, 28], data: new Array(30 * 784).fill(0.5) } } });
      const refused = await post(big, 40);
      expect(refused.status).toBe(413);
      const { error } = (await refused.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('too_large');
      expect(error.message).toMatch(/larger than the limit of 65536 bytes/);
      expect(edge.agent.health()).toMatchObject({ live: true, ready: true });
    });

    it('the client surfaces the code and status', async () => {
      const error = await client
        .infer('fmnist', { input: { dims: [2, 1, 28, 28], data: samples.images[0]! } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EdgeClientError);
      expect(error).toMatchObject({ code: 'bad_shape', status: 400 });
    });
  });

  it('writes heartbeats to KV and publishes them, with per-model statistics', async () => {
    const { prefix } = nats();
    const live = admin.subscribe(heartbeatSubject(prefix, 'gw-test'), { max: 1 });
    const published = (async () => {
      for await (const m of live) return decodeMessage(m.data);
      return undefined;
    })();
    await client.infer('fmnist', input(samples.images[2]!));
    const kv = await new Kvm(admin).open(bucketNames(prefix).heartbeats);
    let fresh: Message | undefined;
    await waitFor(async () => {
      const entry = await kv.get('gw-test').catch(() => null);
      fresh = entry === null ? undefined : decodeMessage(entry.value);
      return fresh?.kind === 'heartbeat' && (fresh.models[0]?.requests ?? 0) > 0;
    }, 'a heartbeat in KV that counts requests');
    expect(await published).toMatchObject({ kind: 'heartbeat', agentId: 'gw-test' });
    expect(fresh).toMatchObject({ kind: 'heartbeat', agentId: 'gw-test', intervalMs: 500 });
    if (fresh?.kind !== 'heartbeat') throw new Error('not a heartbeat');
    expect(fresh.models[0]).toMatchObject({ model: 'fmnist', version: bundle.version, split: pinned, codec: 'f32' });
  });

  it("carries the caller's trace context and the deadline to the cloud", async () => {
    const seen: Msg[] = [];
    const spy = admin.subscribe(tailWildcard(nats().prefix), {
      callback: (_e, m) => {
        seen.push(m);
      },
    });
    await admin.flush();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const before = Date.now();
    const res = await fetch(`${edge.agent.httpUrl}/v1/models/fmnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({
        inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(samples.images[3]!) } },
        deadlineMs: 1500,
      }),
    });
    expect(res.status).toBe(200);
    await waitFor(() => seen.length > 0, 'the tail request');
    spy.unsubscribe();
    const headers = seen[0]!.headers ?? natsHeaders();
    expect(parseTraceparent(headers.get('traceparent'))?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const deadline = Number(headers.get(DEADLINE_HEADER));
    expect(deadline).toBeGreaterThan(before);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1500);
  });

  it('applies live policies from KV: a fleet policy pins a split, an invalid one is ignored and reported', async () => {
    const kv = await new Kvm(admin).open(bucketNames(nats().prefix).policies);
    const withExits = splitWithAllExits(bundle.manifest).id;
    await kv.put('fleet', JSON.stringify({ split: withExits, codec: 'f16' }));
    await waitFor(() => edge.agent.modelStatus('fmnist')?.decision?.split === withExits, 'the fleet policy');
    expect(edge.agent.modelStatus('fmnist')?.decision?.codec).toBe('f16');
    await kv.put('agent.gw-test', JSON.stringify({ split: 'no such split!' }));
    await waitFor(() => /policy agent\.gw-test is invalid/.test(edge.agent.status().lastError ?? ''), 'the report');
    expect(edge.agent.modelStatus('fmnist')?.decision?.split).toBe(withExits);
    await kv.delete('agent.gw-test');
    await kv.delete('fleet');
    await waitFor(() => edge.agent.modelStatus('fmnist')?.decision?.split === pinned, 'the configured pin again');
  });

  it('restarts with no network and serves from its disk cache, running tails locally', async () => {
    const cacheDir = edge.cacheDir;
    await edge.close();
    const offline = await startTestAgent({
      natsUrl: undefined,
      prefix: nats().prefix,
      cacheDir,
      config: { models: [{ id: 'fmnist', pin: pinned }] },
    });
    try {
      expect(offline.agent.health()).toMatchObject({ ready: true });
      const c = new EdgeClient({ url: offline.agent.httpUrl! });
      const r = await c.infer('fmnist', input(samples.images[4]!));
      expect(r).toMatchObject({ version: bundle.version, ranOn: 'fallback', fallbackReason: 'no_connection' });
      expect(maxAbsDiff(r.outputs['logits']!.data as Float32Array, reference[4]!)).toBeLessThan(1e-4);
    } finally {
      await offline.close();
    }
  });
});
