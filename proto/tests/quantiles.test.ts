import { describe, expect, it } from 'vitest';
import { median, quantile, quantileOrNaN } from '../src/quantiles.js';

describe('quantile (nearest rank)', () => {
  it('picks the ⌈q·n⌉-th smallest value, whatever the input order', () => {
    expect(quantile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(quantile([5, 1, 4, 2, 3], 0.9)).toBe(5);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2);
    expect(quantile([4, 1, 3, 2], 0.75)).toBe(3);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(hundred, 0.95)).toBe(95);
    expect(quantile(hundred, 0.99)).toBe(99);
  });

  it('is the smallest value at q = 0 and the largest at q = 1', () => {
    expect(quantile([3, 9, 1], 0)).toBe(1);
    expect(quantile([3, 9, 1], 1)).toBe(9);
    expect(quantile([7], 0)).toBe(7);
    expect(quantile([7], 1)).toBe(7);
  });

  it('always returns one of the values and leaves the input as it was', () => {
    const values = [0.5, 20, 20, 0.5];
    expect(values).toContain(quantile(values, 0.5));
    expect(values).toEqual([0.5, 20, 20, 0.5]);
  });

  it('bad call: no values, or q outside [0, 1]', () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], -0.1)).toThrow(/"q" must be in \[0, 1\]/);
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
    expect(() => quantile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('quantileOrNaN', () => {
  it('is the quantile, or NaN for no values', () => {
    expect(quantileOrNaN([4, 1, 3, 2], 0.5)).toBe(2);
    expect(quantileOrNaN([], 0.5)).toBeNaN();
    expect(() => quantileOrNaN([1], 2)).toThrow(RangeError);
  });
});

describe('median', () => {
  it('is the middle value for an odd count and the lower middle for an even one', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([9])).toBe(9);
  });

  it('bad call: no values', () => expect(() => median([])).toThrow(RangeError));
});
