import { describe, expect, it } from 'vitest';
import {
  decodeFloat16,
  encodeFloat16,
  FLOAT16_MAX,
  float16BitsToNumber,
  float32ToFloat16Bits,
} from '../src/float16.js';
import { seededRandom } from '../src/seeded-random.js';

const roundTrip = (x: number): number => float16BitsToNumber(float32ToFloat16Bits(x));
const MIN_SUBNORMAL = 2 ** -24;
const MIN_NORMAL = 2 ** -14;

describe('float16: exact values', () => {
  it.each([
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [FLOAT16_MAX, 0x7bff],
    [-FLOAT16_MAX, 0xfbff],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
    [MIN_NORMAL, 0x0400],
    [MIN_SUBNORMAL, 0x0001],
    [1023 * MIN_SUBNORMAL, 0x03ff],
  ])('encodes %d as 0x%s and back exactly', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
    expect(roundTrip(value)).toBe(value);
  });

  it('keeps the sign of zero and NaN-ness', () => {
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Number.isNaN(roundTrip(Number.NaN))).toBe(true);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float32ToFloat16Bits(Number.NaN) & 0x03ff).not.toBe(0);
  });

  it('maps every half bit pattern to a number and back to the same bits (NaNs to a NaN)', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16BitsToNumber(bits);
      const isNaNPattern = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      const ok = isNaNPattern
        ? Number.isNaN(value) && Number.isNaN(roundTrip(value))
        : float32ToFloat16Bits(value) === bits;
      if (!ok) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('float16: rounding', () => {
  it('rounds to nearest, ties to even', () => {
    expect(roundTrip(1 + 2 ** -11)).toBe(1); // tie between 1 and 1 + 2^-10: even mantissa wins
    expect(roundTrip(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundTrip(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10);
    expect(roundTrip(2049)).toBe(2048);
    expect(roundTrip(2051)).toBe(2052);
  });

  it('overflows to infinity past the largest half, by rounding', () => {
    expect(roundTrip(65519)).toBe(FLOAT16_MAX);
    expect(roundTrip(65520)).toBe(Number.POSITIVE_INFINITY);
    expect(roundTrip(1e6)).toBe(Number.POSITIVE_INFINITY);
    expect(roundTrip(-1e30)).toBe(Number.NEGATIVE_INFINITY);
    expect(roundTrip(3.4e38)).toBe(Number.POSITIVE_INFINITY);
  });

  it('rounds subnormals to multiples of 2^-24 and underflows to signed zero', () => {
    expect(roundTrip(MIN_SUBNORMAL / 2)).toBe(0); // tie with 0: even
    expect(roundTrip(MIN_SUBNORMAL * 0.75)).toBe(MIN_SUBNORMAL);
    expect(roundTrip(MIN_SUBNORMAL * 1.5)).toBe(2 * MIN_SUBNORMAL); // tie: 2 is even
    expect(roundTrip(MIN_SUBNORMAL * 2.5)).toBe(2 * MIN_SUBNORMAL);
    expect(Object.is(roundTrip(-1e-10), -0)).toBe(true);
    expect(roundTrip(1e-45)).toBe(0); // a float32 subnormal
    expect(roundTrip(MIN_NORMAL - MIN_SUBNORMAL / 4)).toBe(MIN_NORMAL); // carry out of the subnormal range
    const random = seededRandom(7);
    for (let i = 0; i < 10_000; i++) {
      const x = Math.fround((random() - 0.5) * 2 * MIN_NORMAL);
      expect(Math.abs(roundTrip(x) - x)).toBeLessThanOrEqual(MIN_SUBNORMAL / 2);
    }
  });

  it('keeps the relative error within 2^-11 over the normal range', () => {
    const random = seededRandom(11);
    let worst = 0;
    for (let i = 0; i < 100_000; i++) {
      // Log-uniform magnitudes cover every exponent from 2^-14 to 2^15.
      const magnitude = 2 ** (-14 + random() * 29.99);
      const x = Math.fround(random() < 0.5 ? -magnitude : magnitude);
      if (Math.abs(x) > FLOAT16_MAX) continue;
      worst = Math.max(worst, Math.abs(roundTrip(x) - x) / Math.abs(x));
    }
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -12); // the sample did reach near-ties
  });
});

describe('float16: bulk encode and decode', () => {
  it('writes little-endian pairs and reads them back', () => {
    const bytes = encodeFloat16(Float32Array.of(1, -2, 0.5));
    expect(Array.from(bytes)).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]);
    expect(Array.from(decodeFloat16(bytes))).toEqual([1, -2, 0.5]);
  });

  it('rejects an odd byte count', () => {
    expect(() => decodeFloat16(new Uint8Array(3))).toThrow(new RangeError('"bytes" length 3 is odd'));
  });
});
