import { describe, expect, it } from 'vitest';
import { encodeRawTensor, encodeTensor } from '@cleave/proto';
import { createAdmission } from '../src/service/admission.js';
import { requestCost } from '../src/service/request-cost.js';
import { ServeError } from '../src/service/serve-error.js';
import {
  checkInputs,
  concatOutputs,
  decodeCost,
  type NamedTensor,
  splitInputs,
  stackInputs,
  tailSignature,
} from '../src/tail/tensor-batch.js';

const signature = tailSignature(
  [
    { name: 'cut', dtype: 'float32', shape: ['batch', 3] },
    { name: 'ids', dtype: 'int64', shape: ['batch', 2] },
  ],
  [{ name: 'logits', dtype: 'float32', shape: ['batch', 2] }],
);

function request(samples: number, encoding: 'f32' | 'f16' | 'int8') {
  return [
    encodeTensor(
      'cut',
      Float32Array.from({ length: samples * 3 }, (_, i) => i / 10),
      [samples, 3],
      encoding,
    ),
    encodeRawTensor(
      'ids',
      BigInt64Array.from({ length: samples * 2 }, (_, i) => BigInt(i)),
      [samples, 2],
    ),
  ];
}

describe('decode cost', () => {
  it('counts an int8 or f16 element as a 4-byte float, int64 as 8 bytes, and f32 read in place as nothing', () => {
    expect(decodeCost(request(10, 'int8'))).toEqual({ elements: 50, bytes: 30 * 4 + 20 * 8 });
    expect(decodeCost(request(10, 'f16'))).toEqual({ elements: 50, bytes: 30 * 4 + 20 * 8 });
    expect(decodeCost(request(10, 'f32'))).toEqual({ elements: 50, bytes: 20 * 8 });
  });

  it('adds the wire bytes, and refuses too_large past the element or the in-flight byte limit', () => {
    const tensors = request(10, 'int8');
    expect(requestCost(tensors, 100, { maxElementsPerRequest: 50, maxInFlightBytes: 1000 })).toBe(100 + 280);
    const tooMany = () => requestCost(tensors, 100, { maxElementsPerRequest: 49, maxInFlightBytes: 1000 });
    expect(tooMany).toThrow(ServeError);
    expect(tooMany).toThrow(/50 elements, over the replica's limit of 49 per request \(limits.maxElementsPerRequest\)/);
    const tooBig = () => requestCost(tensors, 100, { maxElementsPerRequest: 50, maxInFlightBytes: 379 });
    expect(tooBig).toThrow(
      /holds 380 bytes once decoded \(100 on the wire\), over the replica's in-flight bound of 379/,
    );
    try {
      tooBig();
    } catch (error) {
      expect((error as ServeError).code).toBe('too_large');
    }
  });
});

describe('admission growth', () => {
  it('grows an admitted request to its decoded cost only while the byte bound holds', () => {
    const admission = createAdmission({ maxRequests: 10, maxBytes: 100 });
    expect(admission.tryEnter(20)).toBe(true);
    expect(admission.tryGrow(70)).toBe(true);
    expect(admission.tryEnter(5)).toBe(true);
    expect(admission.tryGrow(10)).toBe(false);
    expect(admission.inFlightBytes).toBe(95);
    admission.leave(90);
    admission.leave(5);
    expect({ inFlight: admission.inFlight, bytes: admission.inFlightBytes }).toEqual({ inFlight: 0, bytes: 0 });
  });
});

describe('chunks of a large request', () => {
  it('splits along dim 0 into views that stack to the same elements, for in-place and decoded inputs', () => {
    for (const encoding of ['f32', 'int8'] as const) {
      const whole = checkInputs(signature, request(10, encoding));
      const chunks = splitInputs(whole, 4);
      expect(chunks.map((c) => c.samples)).toEqual([4, 4, 2]);
      expect(chunks.map((c) => c.tensors[1]!.dims)).toEqual([
        [4, 2],
        [4, 2],
        [2, 2],
      ]);
      const joined = stackInputs(signature, chunks);
      expect(joined).toEqual(stackInputs(signature, [whole]));
    }
  });

  it('leaves a request that fits as it is, and refuses a non-positive chunk size', () => {
    const whole = checkInputs(signature, request(3, 'f32'));
    expect(splitInputs(whole, 3)).toEqual([whole]);
    expect(() => splitInputs(whole, 0)).toThrow(new RangeError('"maxSamples" must be a positive integer; got 0'));
  });

  it('joins chunk outputs back along dim 0, and refuses outputs whose shape changes between chunks', () => {
    const out = (n: number, start: number, width = 2): NamedTensor => ({
      name: 'logits',
      dtype: 'float32',
      dims: [n, width],
      data: Float32Array.from({ length: n * width }, (_, i) => start + i),
    });
    const [joined] = concatOutputs([[out(2, 0)], [out(1, 4)]]);
    expect(joined!.dims).toEqual([3, 2]);
    expect([...joined!.data]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => concatOutputs([[out(2, 0)], [out(1, 4, 3)]])).toThrow(/changes shape between chunks/);
  });
});
