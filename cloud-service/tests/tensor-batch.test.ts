import { describe, expect, it } from 'vitest';
import { encodeRawTensor, encodeTensor, ProtocolError } from '@cleave/proto';
import {
  checkInputs,
  scatterOutputs,
  stackInputs,
  TailInputError,
  tailSignature,
  type TensorSlot,
} from '../src/tail/tensor-batch.js';

const cut: TensorSlot = { name: 'cut', dtype: 'float32', shape: ['batch', 2, 3] };
const ids: TensorSlot = { name: 'ids', dtype: 'int64', shape: ['batch', 4] };
const logits: TensorSlot = { name: 'logits', dtype: 'float32', shape: ['batch', 5] };
const signature = tailSignature([cut, ids], [logits]);

function floats(samples: number, start: number): Float32Array {
  return Float32Array.from({ length: samples * 6 }, (_, i) => start + i);
}

function request(samples: number, start: number, encoding: 'f32' | 'f16' | 'int8' = 'f32') {
  return [
    encodeTensor('cut', floats(samples, start), [samples, 2, 3], encoding),
    encodeRawTensor(
      'ids',
      BigInt64Array.from({ length: samples * 4 }, (_, i) => BigInt(start + i)),
      [samples, 4],
    ),
  ];
}

function expectInputError(fn: () => unknown, message: RegExp): void {
  expect(fn).toThrow(TailInputError);
  expect(fn).toThrow(message);
}

describe('tail signature', () => {
  it('is batchable only when every input has a symbolic dim 0 and fixed other dims', () => {
    expect(signature.batchable).toBe(true);
    expect(tailSignature([{ name: 'x', dtype: 'float32', shape: [1, 3] }], []).batchable).toBe(false);
    expect(tailSignature([{ name: 'x', dtype: 'float32', shape: ['n', 'h'] }], []).batchable).toBe(false);
    expect(tailSignature([{ name: 'x', dtype: 'float32', shape: [] }], []).batchable).toBe(false);
  });
});

describe('checkInputs: expected failure', () => {
  it('names missing and extra tensors', () => {
    expectInputError(
      () => checkInputs(signature, [request(1, 0)[0]!, encodeTensor('other', floats(1, 0), [1, 2, 3], 'f32')]),
      /tail inputs are \[cut, ids\]; request is missing \[ids\] and has extra \[other\]/,
    );
  });

  it('rejects a dtype the tail does not take', () => {
    const wrong = [request(1, 0)[0]!, encodeTensor('ids', new Float32Array(4), [1, 4], 'f32')];
    expectInputError(() => checkInputs(signature, wrong), /tensor "ids": tail expects int64, got float32/);
  });

  it('rejects a wrong rank or a wrong fixed dim', () => {
    const rank = [encodeTensor('cut', floats(1, 0), [1, 6], 'f32'), request(1, 0)[1]!];
    expectInputError(
      () => checkInputs(signature, rank),
      /tensor "cut": tail expects 3 dims \[batch, 2, 3\], got \[1, 6\]/,
    );
    const dim = [encodeTensor('cut', floats(1, 0), [1, 3, 2], 'f32'), request(1, 0)[1]!];
    expectInputError(() => checkInputs(signature, dim), /dim 1 must be 2/);
  });

  it('rejects inputs that disagree on dim 0, and empty batches', () => {
    const mixed = [request(2, 0)[0]!, request(1, 0)[1]!];
    expectInputError(() => checkInputs(signature, mixed), /dim 0 is 1 but another input has 2/);
    expectInputError(() => checkInputs(signature, request(0, 0)), /no samples/);
  });

  it('lets a malformed tensor fail with the proto ProtocolError', () => {
    const bad = request(1, 0);
    bad[0] = { ...bad[0]!, dims: [2, 2, 3] };
    expect(() => checkInputs(signature, bad)).toThrow(ProtocolError);
  });
});

describe('stack and scatter', () => {
  it('stacks requests of different sizes along dim 0 and cuts outputs back exactly', () => {
    const requests = [checkInputs(signature, request(1, 0)), checkInputs(signature, request(3, 100))];
    const [stackedCut, stackedIds] = stackInputs(signature, requests);
    expect(stackedCut!.dims).toEqual([4, 2, 3]);
    expect(Array.from((stackedCut!.data as Float32Array).slice(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 100, 101]);
    expect(stackedIds!.dims).toEqual([4, 4]);
    expect(stackedIds!.data[4]).toBe(100n);

    const out = {
      name: 'logits',
      dtype: 'float32' as const,
      dims: [4, 5],
      data: Float32Array.from({ length: 20 }, (_, i) => i),
    };
    const [first, second] = scatterOutputs([out], [1, 3]);
    expect(first![0]!.dims).toEqual([1, 5]);
    expect(Array.from(first![0]!.data as Float32Array)).toEqual([0, 1, 2, 3, 4]);
    expect(second![0]!.dims).toEqual([3, 5]);
    expect(Array.from(second![0]!.data as Float32Array)).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
  });

  it('refuses to scatter an output whose dim 0 is not the batch', () => {
    const out = { name: 'pooled', dtype: 'float32' as const, dims: [1, 5], data: new Float32Array(5) };
    expect(() => scatterOutputs([out], [1, 1])).toThrow(/dim 0 = 1, not the batch's 2 samples/);
    expect(scatterOutputs([out], [1])[0]![0]).toBe(out);
  });

  it('replies f32 to f32 requests, and f16 to f16 and int8 requests', () => {
    expect(checkInputs(signature, request(1, 0, 'f32')).replyEncoding).toBe('f32');
    expect(checkInputs(signature, request(1, 0, 'f16')).replyEncoding).toBe('f16');
    expect(checkInputs(signature, request(1, 0, 'int8')).replyEncoding).toBe('f16');
  });
});
