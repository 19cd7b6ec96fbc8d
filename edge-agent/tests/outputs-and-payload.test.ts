// Multi-output models, int64/int32/bool inputs and the live payload limit, without onnxruntime or NATS: which
// outputs a request answers with, what the input checks accept and refuse (JSON values and msgpack bytes), and how
// the controller keeps away from options whose request or reply the connected server would refuse.
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BundleManifest, encodeMessage, errorReply, type TensorSpec, wireError } from '@cleave/proto';
import { type ControlInputs, type ControlSettings, createModelController } from '../src/adapt/model-controller.js';
import { fitsPayload } from '../src/adapt/payload-fit.js';
import { EdgeAgentError } from '../src/edge-agent-error.js';
import { exitsMayAnswer, finalOutputs } from '../src/runtime/final-outputs.js';
import { checkInputs } from '../src/runtime/input-validation.js';
import { type OffloadRequest, offloadTail } from '../src/runtime/offload-client.js';
import { syntheticManifest } from './synthetic-manifest.js';

const withOutputs = (names: string[]): BundleManifest => {
  const m = syntheticManifest();
  return {
    ...m,
    model: { ...m.model, outputs: names.map((name) => ({ name, dtype: 'float32', shape: ['N', 4] })) },
  };
};

describe('final outputs', () => {
  it('are every output that is not an exit, in model order; exits may answer only a single final output', () => {
    const one = syntheticManifest();
    expect(finalOutputs(one)).toEqual(['logits']);
    expect(exitsMayAnswer(one)).toBe(true);
    const several = withOutputs(['boxes', 'exit_1', 'logits', 'class_ids']);
    expect(finalOutputs(several)).toEqual(['boxes', 'logits', 'class_ids']);
    expect(exitsMayAnswer(several)).toBe(false);
  });

  it('give a model with several final outputs no expected exit rate', () => {
    const c = createModelController(withOutputs(['exit_1', 'logits', 'hidden']), settings);
    c.update(inputs(0, 5));
    expect(c.current()).toMatchObject({ split: 'split-a', expectedExitRate: 0 });
  });
});

describe('input checks for int64, int32, bool and float inputs', () => {
  const specs: TensorSpec[] = [
    { name: 'ids', dtype: 'int64', shape: ['N', 3] },
    { name: 'mask', dtype: 'bool', shape: ['N', 3] },
    { name: 'lens', dtype: 'int32', shape: ['N'] },
    { name: 'x', dtype: 'float32', shape: ['N', 2] },
  ];
  const good = {
    ids: { dims: [1, 3], data: [101, '9007199254740993', -5] },
    mask: { dims: [1, 3], data: [true, 0, 1] },
    lens: { dims: [1], data: [3] },
    x: { dims: [1, 2], data: [0.5, -1] },
  };
  const failure = (inputs: unknown): EdgeAgentError => {
    try {
      checkInputs(specs, inputs as never, { maxElements: 64 });
    } catch (error) {
      if (error instanceof EdgeAgentError) return error;
      throw error;
    }
    throw new Error('expected an EdgeAgentError');
  };

  it('takes int64 as safe numbers or decimal strings (exactly), bool as true/false/0/1', () => {
    const [ids, mask, lens, x] = checkInputs(specs, good, { maxElements: 64 });
    expect(ids).toEqual({
      name: 'ids',
      dtype: 'int64',
      dims: [1, 3],
      data: BigInt64Array.of(101n, 9007199254740993n, -5n),
    });
    expect(mask).toEqual({ name: 'mask', dtype: 'bool', dims: [1, 3], data: Uint8Array.of(1, 0, 1) });
    expect(lens).toMatchObject({ dtype: 'int32', data: Int32Array.of(3) });
    expect(x).toMatchObject({ dtype: 'float32', data: Float32Array.of(0.5, -1) });
  });

  it('takes msgpack bytes for every dtype, bool included', () => {
    const ids = new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer);
    const [i, m] = checkInputs(
      specs,
      { ...good, ids: { dims: [1, 3], data: ids }, mask: { dims: [1, 3], data: Uint8Array.of(0, 1, 1) } },
      { maxElements: 64 },
    );
    expect(i!.data).toEqual(BigInt64Array.of(1n, 2n, 3n));
    expect(m).toMatchObject({ dtype: 'bool', data: Uint8Array.of(0, 1, 1) });
  });

  const nanBytes = new Uint8Array(Float32Array.of(1, Number.NaN).buffer);
  it.each([
    [
      'wrong dtype for an input',
      { ...good, ids: { ...good.ids, dtype: 'float32' } },
      /input "ids" must be int64; got float32/,
    ],
    [
      'fractional int64',
      { ...good, ids: { dims: [1, 3], data: [1, 2.5, 3] } },
      /"ids" is int64; data\[1\] is not an integer/,
    ],
    ['int64 beyond 2^53 as a number', { ...good, ids: { dims: [1, 3], data: [1, 2 ** 60, 3] } }, /decimal string/],
    [
      'int64 string that is no integer',
      { ...good, ids: { dims: [1, 3], data: [1, '2x', 3] } },
      /data\[1\] is a string/,
    ],
    ['int64 beyond its range', { ...good, ids: { dims: [1, 3], data: ['9223372036854775808', 0, 0] } }, /int64 range/],
    ['int32 beyond its range', { ...good, lens: { dims: [1], data: [2 ** 31] } }, /outside the int32 range/],
    ['fractional int32', { ...good, lens: { dims: [1], data: [1.5] } }, /"lens" is int32; data\[0\] is not an integer/],
    ['bool of 2', { ...good, mask: { dims: [1, 3], data: [1, 2, 0] } }, /"mask" is bool; data\[1\] is 2, not true/],
    ['bool as a string', { ...good, mask: { dims: [1, 3], data: ['true', 1, 0] } }, /data\[0\] is a string/],
    ['bool bytes other than 0 and 1', { ...good, mask: { dims: [1, 3], data: Uint8Array.of(0, 7, 1) } }, /byte 7/],
    ['NaN in JSON-like values', { ...good, x: { dims: [1, 2], data: [1, Number.NaN] } }, /data\[1\] is NaN/],
    ['NaN in msgpack bytes', { ...good, x: { dims: [1, 2], data: nanBytes } }, /"x" is float32; element 1 is NaN/],
    [
      'Infinity in a typed array',
      { ...good, x: { dims: [1, 2], data: Float32Array.of(Number.POSITIVE_INFINITY, 0) } },
      /element 0 is Infinity/,
    ],
  ])('refuses %s with a 400 naming the input', (_name, inputs, message) => {
    const error = failure(inputs);
    expect(error.code).toBe('bad_dtype');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });
});

const settings: ControlSettings = {
  objective: 'latency',
  codecs: ['f32', 'f16'],
  floorMarginPoints: 0,
  holdMs: 300,
  bandMargin: 0.2,
};

function inputs(now: number, mbps: number, maxPayloadBytes?: number): ControlInputs {
  return {
    now,
    mbps,
    batteryObjective: 'latency',
    batteryReason: 'test',
    ...(maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
  };
}

// split-a's f32 reply is 40 kB a sample, its f16 reply 20 kB; cloud-only sends a 1 MB request.
function bigReplies(): BundleManifest {
  const m = syntheticManifest();
  return {
    ...m,
    candidates: m.candidates.map((c) =>
      c.kind === 'edge-only'
        ? { ...c, profile: { edge: stage(20) } }
        : {
            ...c,
            bytesPerSample:
              c.kind === 'cloud-only'
                ? { f32: 1e6, f16: 5e5, int8: 2.5e5, 'u8-deflate': 1e6, 'f16-deflate': 5e5, 'int8-deflate': 2.5e5 }
                : c.bytesPerSample,
            replyBytesPerSample: {
              f32: 40_000,
              f16: 20_000,
              int8: 20_000,
              'u8-deflate': 40_000,
              'f16-deflate': 20_000,
              'int8-deflate': 20_000,
            },
            profile: { edge: stage(3), cloud: stage(1) },
          },
    ),
  };
}
const stage = (medianMs: number) => ({ medianMs, p90Ms: medianMs, runs: 3, batch: 1 });

describe('controller and the live payload limit', () => {
  it('checks request and reply with the envelope', () => {
    const split = bigReplies().candidates.find((c) => c.id === 'split-a')!;
    expect(fitsPayload(split, 'f32', 41_024)).toBe(true);
    expect(fitsPayload(split, 'f32', 41_023)).toBe(false);
    expect(fitsPayload(split, 'f16', 30_000)).toBe(true);
    expect(fitsPayload(bigReplies().candidates[0]!, 'f32', 1)).toBe(true); // edge-only sends nothing
  });

  it('moves a forced f32 to f16 when the f32 reply is over the server max_payload', () => {
    const c = createModelController(bigReplies(), { ...settings, codec: 'f32' });
    c.update(inputs(0, 5, 1 << 20));
    expect(c.current()).toMatchObject({ split: 'split-a', codec: 'f32' });
    // Reconnected to a server that allows 32 KiB: switches at once, whatever the hysteresis.
    const event = c.update(inputs(10, 5, 32 * 1024));
    expect(c.current()).toMatchObject({ split: 'split-a', codec: 'f16', tailOn: 'cloud' });
    expect(event?.reason).toMatch(/split-a\/f32 does not fit the server's max_payload of 32768 bytes/);
    expect(event?.reason).toMatch(/gets 41024 back per sample.*using f16/);
  });

  it('re-ranks within the limit when no allowed codec of the planned candidate fits', () => {
    // Above 12 Mbps the plan says cloud-only, whose 1 MB request fits no 64 KiB server; split-a's f16 does.
    const c = createModelController(bigReplies(), settings);
    c.update(inputs(0, 50, 64 * 1024));
    expect(c.current()).toMatchObject({ split: 'split-a', codec: 'f16', tailOn: 'cloud' });
    // With 8 KiB nothing that offloads fits: edge-only.
    const tight = createModelController(bigReplies(), settings);
    tight.update(inputs(0, 50, 8 * 1024));
    expect(tight.current()).toMatchObject({ split: 'edge-only' });
  });

  it('runs a pinned split that fits in no codec with its tail on the edge', () => {
    const c = createModelController(bigReplies(), { ...settings, pin: 'split-a' });
    c.update(inputs(0, 5, 8 * 1024));
    expect(c.current()).toMatchObject({ split: 'split-a', tailOn: 'edge' });
  });

  it('follows the plan when not connected (no limit known)', () => {
    const c = createModelController(bigReplies(), { ...settings, codec: 'f32' });
    c.update(inputs(0, 5));
    expect(c.current()).toMatchObject({ split: 'split-a', codec: 'f32' });
  });
});

describe('offload outcomes of payload problems', () => {
  const request = (tensors: OffloadRequest['tensors']): OffloadRequest => ({
    id: 'r-1',
    prefix: 'cleave',
    model: 'm',
    version: 'v1',
    split: 'split-a',
    tensors,
    codec: 'f32',
    deadline: Date.now() + 1000,
    timeoutMs: 1000,
    expectedOutputs: ['logits'],
  });
  const cut = [{ name: 'cut', dtype: 'float32' as const, dims: [1, 64], data: new Float32Array(64) }];

  it('refuses a request over the server max_payload before sending it, without blaming the cloud', async () => {
    let sent = 0;
    const nc = { info: { max_payload: 200 }, request: () => (sent += 1) } as unknown as NatsConnection;
    const outcome = await offloadTail(nc, request(cut), () => performance.now());
    expect(outcome).toMatchObject({ ok: false, reason: 'request_too_large', cloudUnwell: false, bytesSent: 0 });
    expect(!outcome.ok && outcome.message).toMatch(/the request is \d+ bytes but the server's max_payload is 200/);
    expect(sent).toBe(0);
  });

  it('reads reply_too_large as a non-retryable plan problem, with the bytes sent and received', async () => {
    const reply = encodeMessage(errorReply(wireError('reply_too_large', 'the reply is 99999 bytes'), 'r-1'));
    const nc = {
      info: { max_payload: 1 << 20 },
      request: () => Promise.resolve({ data: reply }),
    } as unknown as NatsConnection;
    const ids = [{ name: 'ids', dtype: 'bool' as const, dims: [2], data: Uint8Array.of(1, 0) }];
    const outcome = await offloadTail(nc, request([...cut, ...ids]), () => performance.now());
    expect(outcome).toMatchObject({ ok: false, reason: 'reply_too_large', cloudUnwell: false });
    expect(outcome.bytesSent).toBeGreaterThan(64 * 4);
    expect(outcome.bytesReceived).toBe(reply.byteLength);
  });
});
