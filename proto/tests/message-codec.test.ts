import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { wireError } from '../src/error-codes.js';
import { decodeMessage, decodeMessageOfKind, encodeMessage } from '../src/message-codec.js';
import {
  type BundleAnnouncement,
  errorReply,
  type Heartbeat,
  type InferReply,
  type InferRequest,
  isMessageKind,
  type Message,
} from '../src/messages.js';
import { ProtocolError, type ProtocolErrorCode } from '../src/protocol-error.js';
import { PROTOCOL_VERSION } from '../src/protocol-version.js';
import { decodeTensor, encodeRawTensor, encodeTensor } from '../src/tensor-codec.js';
import { seededRandom } from '../src/seeded-random.js';
import { randomBytes, randomFloats } from './random-data.js';

// Packs anything, bypassing encodeMessage's checks, to build hostile input.
const rawPackr = new Packr({ useRecords: false, moreTypes: false });
const pack = (value: unknown): Uint8Array => new Uint8Array(rawPackr.pack(value));
const values = randomFloats(seededRandom(1), 2 * 4 * 3 * 3, -2, 2);

function request(overrides: Partial<InferRequest> = {}): InferRequest {
  return {
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id: 'req-1',
    model: 'fmnist',
    version: 'v3',
    split: 'cut-2',
    tensors: [
      encodeTensor('cut0', values, [2, 4, 3, 3], 'int8', { perChannel: true }),
      encodeTensor('cut1', values.subarray(0, 8), [8], 'f16'),
      encodeRawTensor('len', Int32Array.of(3, 4), [2]),
    ],
    deadline: 1_717_000_000_500,
    sentAt: 1_717_000_000_000,
    ...overrides,
  };
}

const reply: InferReply = {
  kind: 'infer_reply',
  v: PROTOCOL_VERSION,
  id: 'req-1',
  outputs: [encodeTensor('logits', values.subarray(0, 10), [1, 10], 'f32')],
  processingMs: 3.5,
  queueMs: 0.25,
  batchSize: 4,
  replica: 'cloud-0',
};

const heartbeat: Heartbeat = {
  kind: 'heartbeat',
  v: PROTOCOL_VERSION,
  agentId: 'gw-01',
  sentAt: 1_717_000_000_000.5,
  intervalMs: 5000,
  models: [
    {
      model: 'fmnist',
      version: 'v3',
      split: 'cut-2',
      codec: 'int8',
      exitRate: 0.8,
      p50Ms: 4,
      p95Ms: 12.5,
      offloads: 20,
      fallbacks: 1,
      requests: 100,
    },
  ],
  bandwidthMbps: 5.85,
  rttMs: 40,
  battery: { level: 0.42, charging: false },
  lastError: 'timeout',
};

const announcement: BundleAnnouncement = {
  kind: 'bundle',
  v: PROTOCOL_VERSION,
  model: 'fmnist',
  version: 'v3',
  manifestSha256: 'ab'.repeat(32),
  publishedAt: 1_717_000_000_000,
};

/** Decodes `bytes`; returns 'ok' or the ProtocolError code, and fails the test on any other kind of throw. */
function outcome(bytes: Uint8Array): 'ok' | ProtocolErrorCode {
  try {
    decodeMessage(bytes);
    return 'ok';
  } catch (error) {
    if (error instanceof ProtocolError) return error.code;
    throw new Error(`decodeMessage threw a non-ProtocolError for ${Buffer.from(bytes).toString('hex')}`, {
      cause: error,
    });
  }
}

function expectRejected(bytes: Uint8Array, code: ProtocolErrorCode, message: string | RegExp): ProtocolError {
  let caught: unknown;
  try {
    decodeMessage(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  const error = caught as ProtocolError;
  expect(error.name).toBe('ProtocolError');
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  return error;
}

describe('message codec: round trip', () => {
  it.each<[string, Message]>([
    ['infer request', request()],
    ['infer request without deadline', request({ deadline: undefined })],
    ['infer reply', reply],
    ['error reply', errorReply(wireError('overloaded', 'queue full'), 'req-1')],
    ['error reply without id', errorReply(wireError('bad_request', 'unreadable'))],
    ['heartbeat', heartbeat],
    ['minimal heartbeat', { kind: 'heartbeat', v: PROTOCOL_VERSION, agentId: 'gw-02', sentAt: 1, models: [] }],
    ['bundle announcement', announcement],
  ])('%s', (_name, message) => {
    const decoded = decodeMessage(encodeMessage(message));
    expect(decoded).toEqual(message);
    expect(Object.keys(decoded).sort()).toEqual(
      Object.keys(message)
        .filter((k) => message[k as keyof Message] !== undefined)
        .sort(),
    );
  });

  it('restores the tensors themselves', () => {
    const decoded = decodeMessageOfKind(encodeMessage(request()), ['infer']);
    const [cut0, cut1] = decoded.tensors.map((t) => (t.dtype === 'float32' ? decodeTensor(t) : undefined));
    const scales = decoded.tensors[0]?.scale ?? [];
    cut0?.data.forEach((x, i) => {
      const channel = Math.floor(i / 9) % 4;
      expect(Math.abs(x - (values[i] ?? 0))).toBeLessThanOrEqual((scales[channel] ?? 0) / 2 + 1e-6);
    });
    cut1?.data.forEach((x, i) => {
      const original = values[i] ?? 0;
      expect(Math.abs(x - original)).toBeLessThanOrEqual(Math.max(Math.abs(original) * 2 ** -11, 2 ** -25));
    });
    expect(decoded.tensors[2]).toMatchObject({ dtype: 'int32', encoding: 'raw', dims: [2] });
  });

  it('sends tensor data as msgpack bin, not as arrays of numbers', () => {
    const big = encodeTensor('big', randomFloats(seededRandom(2), 10_000, -1, 1), [10_000], 'f32');
    const bytes = encodeMessage(request({ tensors: [big] }));
    expect(bytes.byteLength).toBeGreaterThan(40_000);
    expect(bytes.byteLength).toBeLessThan(40_200);
    const plain = new Unpackr({ useRecords: false }).unpack(bytes) as { tensors: { data: unknown }[] };
    expect(plain.tensors[0]?.data).toBeInstanceOf(Uint8Array);
    // bin16 marker (0xc5) followed by the big-endian length 40,000, then the raw float bytes.
    const marker = Uint8Array.of(0xc5, 0x9c, 0x40, ...new Uint8Array(big.data.buffer, big.data.byteOffset, 8));
    expect(Buffer.from(bytes).includes(Buffer.from(marker))).toBe(true);
  });

  it('decodes f32 tensors without copying when the data lands 4-aligned, and copies otherwise', () => {
    const seen = new Set<boolean>();
    for (let pad = 0; pad < 4; pad++) {
      const bytes = new Uint8Array(encodeMessage(request({ id: `r${'x'.repeat(pad)}`, tensors: reply.outputs })));
      const tensor = decodeMessageOfKind(bytes, ['infer']).tensors[0];
      if (tensor === undefined) throw new Error('no tensor');
      const aligned = tensor.data.byteOffset % 4 === 0;
      const decoded = decodeTensor(tensor);
      expect(decoded.data.buffer === bytes.buffer).toBe(aligned);
      expect(decoded.data).toEqual(values.subarray(0, 10));
      seen.add(aligned);
    }
    expect([...seen].sort()).toEqual([false, true]);
  });

  it('keeps earlier encodings intact while encoding more', () => {
    const first = encodeMessage(request());
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 200; i++) encodeMessage(request({ id: `other-${i}` }));
    expect(first).toEqual(copy);
  });

  it('narrows by kind', () => {
    const message = decodeMessage(encodeMessage(reply));
    expect(isMessageKind(message, 'infer_reply')).toBe(true);
    expect(isMessageKind(message, 'error')).toBe(false);
    if (isMessageKind(message, 'infer_reply')) expect(message.batchSize).toBe(4);
    expect(
      decodeMessageOfKind(encodeMessage(errorReply(wireError('internal', 'x'))), ['infer_reply', 'error']).kind,
    ).toBe('error');
  });
});

describe('message codec: expected failure', () => {
  it('rejects 2,000 random byte strings with ProtocolError only', () => {
    const random = seededRandom(2024);
    const codes = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(random, Math.floor(random() * 300));
      // Half of them start like a map, to get past the first byte.
      if (i % 2 === 0 && bytes.length > 0) bytes[0] = 0x80 | ((bytes[0] ?? 0) % 16);
      const code = outcome(bytes);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(codes.get('ok')).toBeUndefined();
    expect(codes.get('malformed')).toBeGreaterThan(100);
  });

  it('rejects 2,000 corruptions of a valid request with ProtocolError only', () => {
    const random = seededRandom(77);
    const valid = encodeMessage(request());
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from(valid);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      outcome(bytes);
    }
  });

  it('rejects every truncation of a valid request as malformed', () => {
    const valid = encodeMessage(request());
    const codes = new Set<string>();
    for (let n = 0; n < valid.byteLength; n++) codes.add(outcome(valid.subarray(0, n)));
    expect([...codes]).toEqual(['malformed']);
    expectRejected(new Uint8Array(0), 'malformed', 'message is empty');
    expectRejected(
      valid.subarray(0, 10),
      'malformed',
      'message is not valid msgpack: Unexpected end of MessagePack data',
    );
  });

  it('rejects trailing bytes and hostile nesting, and keeps working afterwards', () => {
    const valid = encodeMessage(request());
    expectRejected(Uint8Array.from([...valid, 0]), 'malformed', /^message is not valid msgpack: Data read, but end/);
    const deep = new Uint8Array(200_001).fill(0x91);
    deep[200_000] = 0xc0;
    expectRejected(deep, 'malformed', /^message is not valid msgpack: /);
    expect(decodeMessage(valid)).toEqual(request());
  });

  it.each([
    ['an array', [1, 2], 'an array'],
    ['a string', 'infer', 'string'],
    ['nil', null, 'nil'],
    ['a number', 42, 'number'],
    ['a boolean', true, 'boolean'],
    ['binary', Uint8Array.of(1, 2), 'binary'],
  ])('rejects msgpack that decodes to %s', (_name, value, got) => {
    expectRejected(pack(value), 'bad_message', `message must be a msgpack map, got ${got}`);
  });

  it('rejects another protocol version, or none', () => {
    expectRejected(
      pack({ ...request(), v: 2 }),
      'unsupported_version',
      'message has protocol version 2; this build speaks version 1',
    );
    expectRejected(pack({ ...request(), v: '1' }), 'bad_message', 'message has no numeric protocol version "v"');
    expectRejected(pack({ kind: 'infer' }), 'bad_message', 'message has no numeric protocol version "v"');
  });

  it('rejects an unknown kind', () => {
    expectRejected(
      pack({ kind: 'gossip', v: 1 }),
      'bad_message',
      `invalid message of kind "gossip": kind: Invalid discriminator value. Expected 'infer' | 'infer_reply' | 'error' | 'heartbeat' | 'bundle'`,
    );
  });

  it('rejects bad tensors with specific codes', () => {
    const t = request().tensors[1];
    const withTensor = (patch: Record<string, unknown>): Uint8Array =>
      pack({ ...request(), tensors: [{ ...t, ...patch }] });
    expectRejected(withTensor({ dtype: 'float64' }), 'bad_dtype', /^tensor "cut1": unknown dtype "float64"/);
    expectRejected(
      withTensor({ dims: [9] }),
      'bad_length',
      'tensor "cut1": data has 16 bytes but dims [9] in f16 need 18',
    );
    expectRejected(
      withTensor({ dims: [1e9, 1e9] }),
      'too_large',
      'tensor "cut1": dims [1000000000, 1000000000] exceed the limit of 16777216 elements',
    );
    expectRejected(
      withTensor({ dims: [-8] }),
      'bad_dims',
      'tensor "cut1": dims[0] = -8 is not a non-negative safe integer',
    );
    expectRejected(
      withTensor({ dims: [2.5, 3.2] }),
      'bad_dims',
      'tensor "cut1": dims[0] = 2.5 is not a non-negative safe integer',
    );
    expectRejected(
      withTensor({ data: [0, 60, 0, 60] }),
      'bad_message',
      'tensor "cut1": data must be binary (msgpack bin)',
    );
    expectRejected(withTensor({ encoding: 'zstd' }), 'bad_encoding', /^tensor "cut1": unknown encoding "zstd"/);
    expectRejected(
      pack({ ...reply, outputs: [{ ...t, scale: [1] }] }),
      'bad_quantization',
      /^tensor "cut1": scale, zeroPoint/,
    );
  });

  it('applies the tensor-count limit', () => {
    const many = Array.from({ length: 65 }, (_, i) => encodeTensor(`t${i}`, Float32Array.of(i), [1], 'f32'));
    expectRejected(pack(request({ tensors: many })), 'too_large', 'message carries 65 tensors; the limit is 64');
    expect(decodeMessage(pack(request({ tensors: many })), { maxTensors: 65 }).kind).toBe('infer');
  });

  it('lists schema problems briefly, and all of them in issues', () => {
    const bytes = pack({ ...request(), id: '', model: 'a.b', sentAt: -1, tensors: [] });
    const error = expectRejected(bytes, 'bad_message', /^invalid message of kind "infer": /);
    expect(error.issues).toEqual([
      'id: Too small: expected string to have >=1 characters',
      'model: model must be 1-128 characters of A-Z a-z 0-9 _ -',
      'tensors: Too small: expected array to have >=1 items',
      'sentAt: Too small: expected number to be >=0',
    ]);
    expect(error.message).toContain('model: model must be 1-128 characters');
  });

  it('rejects values of exotic msgpack types', () => {
    const exotic = new Packr({ useRecords: false, moreTypes: true });
    expectRejected(
      new Uint8Array(exotic.pack({ ...announcement, publishedAt: new Date(0) })),
      'bad_message',
      /publishedAt/,
    );
    expectRejected(new Uint8Array(exotic.pack({ ...heartbeat, models: new Set([1]) })), 'bad_message', /models/);
  });

  it('rejects a message of another kind when asked for specific kinds', () => {
    let caught: unknown;
    try {
      decodeMessageOfKind(encodeMessage(heartbeat), ['infer_reply', 'error']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({
      name: 'ProtocolError',
      code: 'bad_message',
      message: 'expected a message of kind infer_reply or error, got heartbeat',
    });
  });
});

describe('message codec: bad call', () => {
  it('refuses to encode a message that breaks the contract', () => {
    const bad = request({ model: 'has space' });
    expect(() => encodeMessage(bad)).toThrow(TypeError);
    expect(() => encodeMessage(bad)).toThrow(/^"message" cannot be encoded: invalid message of kind "infer": model: /);
    try {
      encodeMessage(request({ tensors: [{ ...reply.outputs[0], dims: [3] } as InferRequest['tensors'][number]] }));
    } catch (error) {
      expect((error as Error).cause).toBeInstanceOf(ProtocolError);
      expect((error as TypeError).message).toBe(
        '"message" cannot be encoded: tensor "logits": data has 40 bytes but dims [3] in f32 need 12',
      );
    }
  });

  it('refuses a non-binary argument', () => {
    expect(() => decodeMessage('hello' as unknown as Uint8Array)).toThrow(
      new TypeError('"bytes" must be a Uint8Array'),
    );
  });
});
