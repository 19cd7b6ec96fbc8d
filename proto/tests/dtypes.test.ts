import { describe, expect, it } from 'vitest';
import { firstNonFinite } from '../src/mod.js';

describe('firstNonFinite', () => {
  it('is -1 for finite values, including zeros, subnormals and the float32 extremes', () => {
    expect(firstNonFinite(new Float32Array([0, -0, 1e-45, 3.4028234e38, -3.4028234e38]))).toBe(-1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
  });

  it('finds the first NaN, +Infinity or -Infinity', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const values = new Float32Array(1000).fill(0.5);
      values[700] = bad;
      values[900] = Number.NaN;
      expect(firstNonFinite(values)).toBe(700);
    }
  });

  it('sees a value that overflowed float32 as Infinity', () => {
    expect(firstNonFinite(new Float32Array([1, 1e39]))).toBe(1);
  });
});

describe('firstNonFinite at every position', () => {
  it('finds a single bad value wherever it sits, whatever the length (the four-lane sum and its tail)', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9]) {
      for (let at = 0; at < n; at++) {
        const values = new Float32Array(n).fill(-2.5);
        values[at] = at % 2 === 0 ? Number.NEGATIVE_INFINITY : Number.NaN;
        expect(firstNonFinite(values)).toBe(at);
      }
    }
  });
});
