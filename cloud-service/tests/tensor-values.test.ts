// A tail request's values, not just its shapes: NaN and ±Infinity in a float tensor, whatever its codec, and bool
// tensors other than 0/1 are refused (bad_request) before anything runs; bool inputs keep their dtype through a batch.
import { describe, expect, it } from 'vitest';
import { encodeRawTensor, encodeTensor, type EncodedTensor, toWireError } from '@cleave/proto';
import { toServeWireError } from '../src/service/serve-error.js';
import { checkInputs, stackInputs, TailInputError, tailSignature } from '../src/tail/tensor-batch.js';

const signature = tailSignature(
  [
    { name: 'x', dtype: 'float32', shape: ['batch', 3] },
    { name: 'mask', dtype: 'bool', shape: ['batch', 3] },
  ],
  [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }],
);
const mask = (values: number[]) => encodeRawTensor('mask', Uint8Array.from(values), [1, 3], 'bool');

describe('tail request values', () => {
  it.each(['f32', 'f16', 'int8'] as const)('refuses NaN in a %s float tensor with bad_request naming it', (codec) => {
    const x = Float32Array.of(1, Number.NaN, 3);
    // int8 elements cannot be NaN; its NaN is a scale, refused as a bad quantization (bad_request all the same).
    const tensor: EncodedTensor =
      codec === 'int8'
        ? { ...encodeTensor('x', Float32Array.of(1, 2, 3), [1, 3], 'int8'), scale: [Number.NaN] }
        : encodeTensor('x', x, [1, 3], codec);
    const run = () => checkInputs(signature, [tensor, mask([1, 0, 1])]);
    expect(run).toThrow();
    let error: unknown;
    try {
      run();
    } catch (e) {
      error = e;
    }
    const wire = toServeWireError(error);
    expect(wire.code).toBe('bad_request');
    expect(wire.retryable).toBe(false);
    if (codec !== 'int8') expect(wire.message).toMatch(/tensor "x": element 1 is NaN; float tensors must be finite/);
  });

  it('refuses Infinity, also one that f16 made of a value beyond its range', () => {
    const inf = encodeTensor('x', Float32Array.of(1, Number.NEGATIVE_INFINITY, 3), [1, 3], 'f32');
    expect(() => checkInputs(signature, [inf, mask([0, 0, 0])])).toThrow(/element 1 is -Infinity/);
    const overflow = encodeTensor('x', Float32Array.of(1e6, 0, 0), [1, 3], 'f16');
    expect(() => checkInputs(signature, [overflow, mask([0, 0, 0])])).toThrow(TailInputError);
  });

  it('refuses a f32 tensor at an odd byte offset with NaN too (the unaligned path)', () => {
    const good = encodeTensor('x', Float32Array.of(1, Number.NaN, 3), [1, 3], 'f32');
    const shifted = new Uint8Array(good.data.byteLength + 1).fill(0);
    shifted.set(good.data, 1);
    const odd = { ...good, data: shifted.subarray(1) };
    expect(() => checkInputs(signature, [odd, mask([1, 1, 1])])).toThrow(/element 1 is NaN/);
  });

  it('refuses bool bytes other than 0 and 1, and stacks bool inputs as bool', () => {
    const x = encodeTensor('x', Float32Array.of(1, 2, 3), [1, 3], 'f32');
    expect(() => checkInputs(signature, [x, mask([0, 2, 1])])).toThrow(/element 1 of a bool tensor is 2/);
    const a = checkInputs(signature, [x, mask([1, 0, 1])]);
    const b = checkInputs(signature, [x, mask([0, 1, 0])]);
    const [, stacked] = stackInputs(signature, [a, b]);
    expect(stacked).toEqual({ name: 'mask', dtype: 'bool', dims: [2, 3], data: Uint8Array.of(1, 0, 1, 0, 1, 0) });
    // uint8 for a bool input is the wrong dtype.
    const bytes = encodeRawTensor('mask', Uint8Array.of(1, 0, 1), [1, 3]);
    expect(() => checkInputs(signature, [x, bytes])).toThrow(/tail expects bool, got uint8/);
  });

  it('maps a proto problem (bad int8 scale) to bad_request as well', () => {
    const bad = { ...encodeTensor('x', Float32Array.of(1, 2, 3), [1, 3], 'int8'), scale: [-1] };
    expect(toWireError(catchError(() => checkInputs(signature, [bad, mask([1, 1, 1])]))).code).toBe('bad_request');
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
