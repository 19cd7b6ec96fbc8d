// A f16/int8 request larger than one run stays encoded until each of its chunks runs (tensor-batch.ts decodeChunk),
// and the reclaimer collects once enough garbage is reported (memory-reclaimer.ts).
import { describe, expect, it } from 'vitest';
import { encodeTensor } from '@cleave/proto';
import { createMemoryReclaimer } from '../src/service/memory-reclaimer.js';
import {
  checkInputs,
  decodeChunk,
  splitInputs,
  stackInputs,
  TailInputError,
  tailSignature,
} from '../src/tail/tensor-batch.js';

const signature = tailSignature(
  [{ name: 'cut', dtype: 'float32', shape: ['batch', 3] }],
  [{ name: 'out', dtype: 'float32', shape: ['batch', 3] }],
);
const values = (samples: number) => Float32Array.from({ length: samples * 3 }, (_, i) => (i % 17) / 4 - 2);

describe('chunk by chunk decoding', () => {
  it('decodes each chunk to what decoding the whole gives, per tensor and per channel on dim 0 or 1', () => {
    for (const options of [undefined, { perChannel: true, axis: 0 }, { perChannel: true, axis: 1 }]) {
      for (const encoding of ['int8', 'f16'] as const) {
        const wire = [encodeTensor('cut', values(10), [10, 3], encoding, options)];
        const eager = stackInputs(signature, [checkInputs(signature, wire)]);
        const lazy = checkInputs(signature, wire, undefined, 4);
        expect('encoded' in lazy.tensors[0]!.source).toBe(true);
        const chunks = splitInputs(lazy, 4).map((chunk) => decodeChunk(chunk));
        expect(chunks.map((c) => c.samples)).toEqual([4, 4, 2]);
        expect(stackInputs(signature, chunks)).toEqual(eager);
      }
    }
  });

  it('keeps only a request larger than a run encoded, and refuses a still encoded chunk in a batch', () => {
    const wire = [encodeTensor('cut', values(10), [10, 3], 'int8')];
    expect('encoded' in checkInputs(signature, wire, undefined, 10).tensors[0]!.source).toBe(false);
    const lazy = checkInputs(signature, wire, undefined, 4);
    expect(() => stackInputs(signature, splitInputs(lazy, 4))).toThrow(/must go through decodeChunk/);
  });

  it('finds a non-finite value when its chunk is decoded', () => {
    const big = values(10);
    big[27] = 70_000; // past f16's range: decodes to Infinity
    const lazy = checkInputs(signature, [encodeTensor('cut', big, [10, 3], 'f16')], undefined, 4);
    const chunks = splitInputs(lazy, 4);
    expect(() => decodeChunk(chunks[1]!)).not.toThrow();
    expect(() => decodeChunk(chunks[2]!)).toThrow(TailInputError);
  });
});

describe('memory reclaimer', () => {
  it('collects once the threshold is reached, or when the replica goes idle with enough pending', async () => {
    const reclaimer = createMemoryReclaimer({
      thresholdBytes: 1000,
      idleMinBytes: 100,
      minIntervalMs: 0,
      majorMinBytes: 500,
    });
    reclaimer.released(400);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reclaimer.collections).toBe(0);
    reclaimer.released(800);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reclaimer.collections).toBe(1);
    expect(reclaimer.majorCollections).toBe(1); // 800 bytes at once: a big request, maybe promoted
    reclaimer.released(10, true); // idle, but too little to be worth a full GC
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reclaimer.collections).toBe(1);
    reclaimer.released(95, true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reclaimer.collections).toBe(2);
    expect(reclaimer.majorCollections).toBe(1); // only small garbage: a scavenge
  });
});
