import { describe, expect, it } from 'vitest';
import { OUTPUT_AGREEMENT_TOLERANCE, OUTPUT_SCALE_FLOOR, outputDeviation } from '../src/output-agreement.js';

describe('output deviation', () => {
  it('is max |a − b| over the largest |a| for outputs above the scale floor', () => {
    expect(outputDeviation([10, -20, 5], [10, -20.002, 5])).toBeCloseTo(1e-4, 12);
    expect(outputDeviation([1, 2], [1, 2])).toBe(0);
  });

  it('measures a near-zero output against the floor, so float rounding is not a percent-level error', () => {
    // A probability map squashed to ~2.5e-5, moved by 1.8e-7 (the rounding of a fused Conv): 0.7% of its own max.
    const reference = [0, 2.5e-5, 1e-6];
    const fused = [0, 2.5e-5 + 1.8e-7, 1e-6];
    expect(outputDeviation(reference, fused, 0)).toBeGreaterThan(7e-3);
    expect(outputDeviation(reference, fused)).toBeCloseTo(1.8e-7 / OUTPUT_SCALE_FLOOR, 12);
    expect(outputDeviation(reference, fused)).toBeLessThan(OUTPUT_AGREEMENT_TOLERANCE);
    // A difference as large as the output itself still fails.
    expect(outputDeviation(reference, [0, 0, 0])).toBeGreaterThan(OUTPUT_AGREEMENT_TOLERANCE);
  });

  it('matches NaN in the same places only, and rejects a length mismatch', () => {
    expect(outputDeviation([NaN, 1], [NaN, 1])).toBe(0);
    expect(outputDeviation([NaN, 1], [0, 1])).toBe(Number.POSITIVE_INFINITY);
    expect(outputDeviation([1, 2], [1])).toBe(Number.POSITIVE_INFINITY);
    expect(outputDeviation([1n, 2n], [1n, 3n])).toBeCloseTo(0.5, 12);
  });
});
