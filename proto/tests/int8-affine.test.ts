import { describe, expect, it } from 'vitest';
import { affineParamsFromRange, dequantizeInt8, quantizeInt8 } from '../src/int8-affine.js';
import { seededRandom } from '../src/seeded-random.js';
import { randomFloats } from './random-data.js';

// Dequantization runs in double precision and is then stored as float32, which adds half an ulp.
const float32Slack = (x: number): number => Math.abs(x) * 2 ** -23;

function maxExcess(values: Float32Array, restored: Float32Array, bound: (i: number) => number): number {
  let worst = Number.NEGATIVE_INFINITY;
  values.forEach((x, i) => {
    worst = Math.max(worst, Math.abs((restored[i] ?? Number.NaN) - x) - bound(i) - float32Slack(x));
  });
  return worst;
}

describe('int8 affine: parameters', () => {
  it('maps the range widened to include 0 onto [-128, 127]', () => {
    expect(affineParamsFromRange(0, 255)).toEqual({ scale: 1, zeroPoint: -128 });
    expect(affineParamsFromRange(-255, 0)).toEqual({ scale: 1, zeroPoint: 127 });
    expect(affineParamsFromRange(-1, 1)).toEqual({ scale: 2 / 255, zeroPoint: 0 });
    expect(affineParamsFromRange(2, 3)).toEqual({ scale: 3 / 255, zeroPoint: -128 });
    expect(affineParamsFromRange(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(() => affineParamsFromRange(-1e308, 1e308)).toThrow(RangeError);
  });
});

describe('int8 affine: per tensor', () => {
  it.each([
    ['symmetric', -3, 3],
    ['all positive (post-ReLU)', 0, 6],
    ['all negative', -10, -0.5],
    ['skewed', -0.1, 40],
    ['tiny', -1e-6, 1e-6],
  ])('bounds the error by scale / 2 on seeded %s data', (_name, lo, hi) => {
    const values = randomFloats(seededRandom(1234), 50_000, lo, hi);
    const q = quantizeInt8(values, [values.length]);
    expect(q.scale).toHaveLength(1);
    const scale = q.scale[0] ?? Number.NaN;
    const restored = dequantizeInt8(q.bytes, [values.length], q.scale, q.zeroPoint);
    expect(maxExcess(values, restored, () => scale / 2)).toBeLessThanOrEqual(0);
  });

  it('represents zero exactly', () => {
    const values = Float32Array.of(0, -1.7, 0, 3.3, 0.25, 0);
    const q = quantizeInt8(values, [2, 3]);
    const restored = dequantizeInt8(q.bytes, [2, 3], q.scale, q.zeroPoint);
    expect([restored[0], restored[2], restored[5]]).toEqual([0, 0, 0]);
  });

  it('handles constant and empty tensors', () => {
    const zeros = quantizeInt8(new Float32Array(4), [4]);
    expect(Array.from(dequantizeInt8(zeros.bytes, [4], zeros.scale, zeros.zeroPoint))).toEqual([0, 0, 0, 0]);
    const sevens = Float32Array.of(7, 7, 7);
    const q = quantizeInt8(sevens, [3]);
    for (const x of dequantizeInt8(q.bytes, [3], q.scale, q.zeroPoint))
      expect(Math.abs(x - 7)).toBeLessThanOrEqual(7 / 510);
    expect(quantizeInt8(new Float32Array(0), [0, 5]).bytes).toHaveLength(0);
  });

  it('saturates infinities and maps NaN to zero without widening the range', () => {
    const values = Float32Array.of(1, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN);
    const q = quantizeInt8(values, [5]);
    expect(q.scale[0]).toBeCloseTo(2 / 255, 12);
    const restored = Array.from(dequantizeInt8(q.bytes, [5], q.scale, q.zeroPoint));
    expect(restored[2]).toBeCloseTo(1, 2);
    expect(restored[3]).toBeCloseTo(-1, 2);
    expect(restored[4]).toBe(0);
  });
});

describe('int8 affine: per channel', () => {
  it('bounds the error per channel by that channel’s scale / 2', () => {
    const random = seededRandom(99);
    const [n, c, h, w] = [2, 5, 7, 3];
    // Channel k spans roughly [-(k+1)^3, (k+1)^3]: ranges differ by two orders of magnitude.
    const values = Float32Array.from({ length: n * c * h * w }, (_, i) => {
      const k = Math.floor(i / (h * w)) % c;
      return (random() * 2 - 1) * (k + 1) ** 3;
    });
    const q = quantizeInt8(values, [n, c, h, w], 1);
    expect(q.scale).toHaveLength(c);
    expect(q.zeroPoint).toHaveLength(c);
    const restored = dequantizeInt8(q.bytes, [n, c, h, w], q.scale, q.zeroPoint, 1);
    const channelOf = (i: number): number => Math.floor(i / (h * w)) % c;
    expect(maxExcess(values, restored, (i) => (q.scale[channelOf(i)] ?? Number.NaN) / 2)).toBeLessThanOrEqual(0);
    // The small channel is far more precise than a per-tensor scale would allow.
    expect(q.scale[0]).toBeLessThan((q.scale[c - 1] ?? 0) / 50);
  });

  it('quantizes along the last axis too', () => {
    const values = Float32Array.of(1, 100, 2, 200, 3, 300);
    const q = quantizeInt8(values, [3, 2], 1);
    const restored = dequantizeInt8(q.bytes, [3, 2], q.scale, q.zeroPoint, 1);
    expect(maxExcess(values, restored, (i) => (q.scale[i % 2] ?? Number.NaN) / 2)).toBeLessThanOrEqual(0);
  });

  it('rejects an axis outside the dims', () => {
    expect(() => quantizeInt8(new Float32Array(6), [2, 3], 2)).toThrow(
      new RangeError('"axis" must be an integer in [0, 2) for dims [2, 3]; got 2'),
    );
  });
});
