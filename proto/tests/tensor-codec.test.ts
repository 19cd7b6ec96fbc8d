import { describe, expect, it } from 'vitest';
import { fromLittleEndianBytes, HOST_IS_LITTLE_ENDIAN, toLittleEndianBytes } from '../src/byte-order.js';
import { ProtocolError, type ProtocolErrorCode } from '../src/protocol-error.js';
import { decodeAnyTensor, decodeTensor, encodeRawTensor, encodeTensor } from '../src/tensor-codec.js';
import { tensorWireBytes } from '../src/codecs.js';
import { type EncodedTensor, validateEncodedTensor } from '../src/tensor-validation.js';
import { seededRandom } from '../src/seeded-random.js';
import { randomFloats } from './random-data.js';

function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  const error = caught as ProtocolError;
  expect(error.name).toBe('ProtocolError');
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

const good = (): EncodedTensor => encodeTensor('x', Float32Array.of(1, 2, 3, 4, 5, 6), [1, 2, 3], 'f32');

describe('tensor codec: round trip', () => {
  it('restores f32 exactly, as a view on the same memory', () => {
    const values = randomFloats(seededRandom(3), 1000, -1e6, 1e6);
    const encoded = encodeTensor('cut', values, [10, 100], 'f32');
    expect(encoded).toMatchObject({ name: 'cut', dtype: 'float32', dims: [10, 100], encoding: 'f32' });
    expect(encoded.data.byteLength).toBe(4000);
    const decoded = decodeTensor(encoded);
    expect(decoded.dims).toEqual([10, 100]);
    expect(decoded.data).toEqual(values);
    // Zero-copy on little-endian hosts (all of ours); a big-endian host must swap, so copies (tested below).
    expect(decoded.data.buffer === values.buffer).toBe(HOST_IS_LITTLE_ENDIAN);
  });

  it('copies f32 data that sits at an unaligned offset', () => {
    const values = Float32Array.of(1.5, -2.25, 3e-39, Number.POSITIVE_INFINITY);
    const unaligned = new Uint8Array(17).subarray(1);
    unaligned.set(new Uint8Array(values.buffer));
    const decoded = decodeTensor({ ...encodeTensor('x', values, [4], 'f32'), data: unaligned });
    expect(decoded.data).toEqual(values);
    expect(decoded.data.buffer).not.toBe(unaligned.buffer);
  });

  it('restores f16 within half precision and int8 within scale / 2', () => {
    const values = randomFloats(seededRandom(5), 4 * 8 * 3 * 3, -4, 4);
    const half = decodeTensor(encodeTensor('h', values, [4, 8, 3, 3], 'f16'));
    half.data.forEach((x, i) => expect(Math.abs(x - (values[i] ?? 0))).toBeLessThanOrEqual(4 * 2 ** -11));
    const perTensor = encodeTensor('q', values, [4, 8, 3, 3], 'int8');
    expect(perTensor.axis).toBeUndefined();
    const scale = perTensor.scale?.[0] ?? Number.NaN;
    decodeTensor(perTensor).data.forEach((x, i) =>
      expect(Math.abs(x - (values[i] ?? 0))).toBeLessThanOrEqual(scale / 2 + 1e-6),
    );
    const perChannel = encodeTensor('q', values, [4, 8, 3, 3], 'int8', { perChannel: true });
    expect(perChannel.axis).toBe(1);
    expect(perChannel.scale).toHaveLength(8);
    const last = encodeTensor('q', values, [4, 8, 3, 3], 'int8', { perChannel: true, axis: 3 });
    expect(last.scale).toHaveLength(3);
    expect(decodeTensor(perChannel).data).toHaveLength(values.length);
  });

  it('restores raw integer tensors', () => {
    const ids = BigInt64Array.of(1n, -2n, 9007199254740993n);
    const int64 = decodeAnyTensor(encodeRawTensor('ids', ids, [1, 3]));
    expect(int64).toEqual({ name: 'ids', dtype: 'int64', dims: [1, 3], data: ids });
    const int32 = decodeAnyTensor(encodeRawTensor('len', Int32Array.of(-7, 70000), [2]));
    expect(int32).toEqual({ name: 'len', dtype: 'int32', dims: [2], data: Int32Array.of(-7, 70000) });
    const mask = decodeAnyTensor(encodeRawTensor('mask', Uint8Array.of(1, 0, 1), [3]));
    expect(mask).toEqual({ name: 'mask', dtype: 'uint8', dims: [3], data: Uint8Array.of(1, 0, 1) });
  });

  it('encodes scalars and empty tensors', () => {
    expect(decodeTensor(encodeTensor('s', Float32Array.of(42), [], 'f16')).data[0]).toBe(42);
    const empty = decodeTensor(encodeTensor('e', new Float32Array(0), [0, 3], 'int8'));
    expect(empty).toMatchObject({ dims: [0, 3] });
    expect(empty.data).toHaveLength(0);
  });

  it('reports payload bytes per encoding', () => {
    expect(tensorWireBytes(1000, 'f32')).toBe(4000);
    expect(tensorWireBytes(1000, 'f16')).toBe(2000);
    expect(tensorWireBytes(1000, 'int8')).toBe(1000);
    expect(tensorWireBytes(0, 'int8')).toBe(0);
    expect(() => tensorWireBytes(-1, 'f32')).toThrow(
      new RangeError('"count" must be a non-negative safe integer; got -1'),
    );
  });
});

describe('byte order', () => {
  it('writes little-endian bytes and swaps them on a big-endian host', () => {
    const values = Float32Array.of(1, -2);
    const le = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];
    expect(Array.from(toLittleEndianBytes(values))).toEqual(le);
    // Simulate a big-endian host: its typed-array memory holds each element reversed.
    const bigEndianMemory = Float32Array.from(
      new Float32Array(Uint8Array.from([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]).buffer),
    );
    expect(Array.from(toLittleEndianBytes(bigEndianMemory, false))).toEqual(le);
    const read = fromLittleEndianBytes(Float32Array, Uint8Array.from(le), false);
    expect(Array.from(new Uint8Array(read.buffer))).toEqual([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
    expect(() => fromLittleEndianBytes(Int32Array, new Uint8Array(6))).toThrow(
      new RangeError('"bytes" length 6 is not a multiple of the element size 4'),
    );
  });
});

describe('tensor codec: expected failure', () => {
  it.each([
    [
      'unknown dtype',
      { dtype: 'float64' },
      'bad_dtype',
      'tensor "x": unknown dtype "float64"; expected one of float32, int64, int32, uint8, bool',
    ],
    [
      'unknown encoding',
      { encoding: 'bf16' },
      'bad_encoding',
      'tensor "x": unknown encoding "bf16"; expected one of f32, f16, int8, u8-deflate, f16-deflate, int8-deflate, raw',
    ],
    [
      'raw float',
      { encoding: 'raw' },
      'bad_encoding',
      'tensor "x": encoding "raw" is not valid for dtype "float32"; use f32, f16, int8, u8-deflate, f16-deflate, int8-deflate',
    ],
    [
      'compressed ints',
      { dtype: 'int64', data: new Uint8Array(48) },
      'bad_encoding',
      'tensor "x": encoding "f32" is not valid for dtype "int64"; use raw',
    ],
    ['dims not an array', { dims: 6 }, 'bad_dims', 'tensor "x": dims must be an array'],
    ['negative dim', { dims: [2, -3] }, 'bad_dims', 'tensor "x": dims[1] = -3 is not a non-negative safe integer'],
    ['fractional dim', { dims: [1.5, 4] }, 'bad_dims', 'tensor "x": dims[0] = 1.5 is not a non-negative safe integer'],
    ['string dim', { dims: ['6'] }, 'bad_dims', 'tensor "x": dims[0] = "6" is not a non-negative safe integer'],
    ['nine dims', { dims: [1, 1, 1, 1, 1, 1, 1, 1, 6] }, 'bad_dims', 'tensor "x": has 9 dims; at most 8 are allowed'],
    [
      'huge dims',
      { dims: [1e9, 1e9] },
      'too_large',
      'tensor "x": dims [1000000000, 1000000000] exceed the limit of 16777216 elements',
    ],
    [
      'unsafe dims',
      { dims: [2 ** 60, 2 ** 60, 2 ** 60] },
      'bad_dims',
      /^tensor "x": dims\[0\] = 1152921504606847000 is not/,
    ],
    [
      'short data',
      { data: new Uint8Array(20) },
      'bad_length',
      'tensor "x": data has 20 bytes but dims [1, 2, 3] in f32 need 24',
    ],
    ['data not binary', { data: [1, 2, 3] }, 'bad_message', 'tensor "x": data must be binary (msgpack bin)'],
    [
      'scale on f32',
      { scale: [1] },
      'bad_quantization',
      'tensor "x": scale, zeroPoint and axis are only valid with encoding int8, not f32',
    ],
  ])('rejects %s', (_why, patch, code, message) => {
    expectProtocolError(() => validateEncodedTensor({ ...good(), ...patch }), code as ProtocolErrorCode, message);
  });

  it('rejects bad int8 parameters', () => {
    const q = encodeTensor('q', Float32Array.of(1, 2, 3, 4, 5, 6), [1, 2, 3], 'int8');
    const cases: [Partial<EncodedTensor> & Record<string, unknown>, string][] = [
      [{ scale: undefined }, 'scale must be an array of 1 entry (per tensor)'],
      [{ scale: [0] }, 'scale[0] = 0 must be finite and > 0'],
      [{ scale: [Number.NaN] }, 'scale[0] = NaN must be finite and > 0'],
      [{ zeroPoint: [128] }, 'zeroPoint[0] = 128 must be an integer in [-128, 127]'],
      [{ zeroPoint: [0.5] }, 'zeroPoint[0] = 0.5 must be an integer in [-128, 127]'],
      [{ zeroPoint: [1, 2] }, 'zeroPoint must be an array of 1 entry (per tensor)'],
      [{ axis: 3 }, 'axis 3 must be an integer in [0, 3)'],
      [{ axis: 1 }, 'scale must be an array of 2 entries (one per channel on axis 1)'],
    ];
    for (const [patch, problem] of cases) {
      expectProtocolError(() => decodeTensor({ ...q, ...patch }), 'bad_quantization', `tensor "q": ${problem}`);
    }
  });

  it('rejects a nameless or non-object tensor', () => {
    expectProtocolError(
      () => validateEncodedTensor({ ...good(), name: '' }),
      'bad_message',
      'tensor name must be a string of 1-1024 characters',
    );
    expectProtocolError(() => validateEncodedTensor([1]), 'bad_message', 'tensor must be a map');
  });

  it('applies a configured element limit and refuses an integer tensor as float', () => {
    expectProtocolError(
      () => decodeTensor(good(), { maxElements: 5 }),
      'too_large',
      'tensor "x": dims [1, 2, 3] exceed the limit of 5 elements',
    );
    expect(decodeTensor(good(), { maxElements: 6 }).data).toHaveLength(6);
    expectProtocolError(
      () => decodeTensor(encodeRawTensor('ids', Int32Array.of(1), [1])),
      'bad_dtype',
      'tensor "ids": expected dtype float32, got int32',
    );
  });

  it('accepts dims with a zero even when the others are huge', () => {
    expect(validateEncodedTensor({ ...good(), dims: [1e9, 0, 1e9], data: new Uint8Array(0) }).dims).toEqual([
      1e9, 0, 1e9,
    ]);
  });
});

describe('tensor codec: bad call', () => {
  it('names the bad argument', () => {
    const data = new Float32Array(6);
    expect(() => encodeTensor('', data, [6], 'f32')).toThrow(
      new TypeError('"name" must be a string of 1-1024 characters'),
    );
    expect(() => encodeTensor('x', [1, 2] as unknown as Float32Array, [2], 'f32')).toThrow(
      new TypeError('"data" of tensor "x" must be a Float32Array'),
    );
    expect(() => encodeTensor('x', data, [2, 2], 'f32')).toThrow(
      new RangeError('"dims" [2, 2] of tensor "x" describe 4 elements but "data" has 6'),
    );
    expect(() => encodeTensor('x', data, [-6], 'f32')).toThrow(
      new RangeError('"dims" of tensor "x" must be non-negative safe integers; got [-6]'),
    );
    expect(() => encodeTensor('x', data, [6], 'bf16' as 'f16')).toThrow(
      new TypeError('"encoding" must be one of f32, f16, int8, u8-deflate, f16-deflate, int8-deflate; got bf16'),
    );
    expect(() => encodeTensor('x', data, [6], 'int8', { axis: 0 })).toThrow(
      new TypeError('"axis" is only meaningful with "perChannel: true"'),
    );
    expect(() => encodeTensor('x', data, [6], 'int8', { perChannel: true })).toThrow(
      new RangeError('"axis" must be an integer in [0, 1) for tensor "x" with dims [6]; got 1'),
    );
    expect(() => encodeRawTensor('x', new Float64Array(1) as unknown as Int32Array, [1])).toThrow(
      new TypeError('"data" of tensor "x" must be a BigInt64Array, Int32Array or Uint8Array'),
    );
    expect(() => decodeTensor(good(), { maxElements: 0 })).toThrow(
      new RangeError('"limits.maxElements" must be a positive safe integer; got 0'),
    );
  });
});
