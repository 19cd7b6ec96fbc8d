import { describe, expect, it } from 'vitest';
import {
  answerSize,
  assertExitsEvaluable,
  exitConfidence,
  exitEvaluationProblems,
  ExitEvaluationError,
  exitLayout,
  nearestIndex,
  sampleAgreement,
  sampleClassMap,
  sampleConfidence,
  sampleLogitsAt,
} from '../src/mod.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// One sample, 2 classes, 2 × 2 pixels (NCHW): per pixel (class 0, class 1) logits
// p0 (5, 0), p1 (0, 0), p2 (0, 3), p3 (1, 0).
const seg = Float32Array.of(5, 0, 0, 1, 0, 0, 3, 0);
const segLayout = exitLayout('segmentation', [1, 2, 2, 2]);

describe('exit evaluator: classification', () => {
  it('is exitConfidence on rows, exactly', () => {
    const rows = Float32Array.of(2, 1, 0, 0.3, 0.1, -4);
    const layout = exitLayout('classification', [2, 3]);
    expect(layout).toEqual({ task: 'classification', samples: 2, classes: 3, height: 1, width: 1 });
    for (const m of ['max-prob', 'margin', 'entropy'] as const) {
      for (const i of [0, 1]) expect(sampleConfidence(layout, rows, i, m)).toBe(exitConfidence(rows, i * 3, 3, m));
    }
    expect(Array.from(sampleClassMap(layout, rows, 1))).toEqual([0]);
    expect(sampleAgreement(layout, rows, 0, [0, 2], 0)).toBe(1);
    expect(sampleAgreement(layout, rows, 1, [0, 2], 1)).toBe(0);
  });
});

describe('exit evaluator: segmentation', () => {
  it('confidence is the mean per-pixel measure', () => {
    const want = (sigmoid(5) + 0.5 + sigmoid(3) + sigmoid(1)) / 4;
    expect(sampleConfidence(segLayout, seg, 0, 'max-prob')).toBeCloseTo(want, 12);
    // margin per pixel: |2p - 1|
    const margin = (2 * sigmoid(5) - 1 + 0 + 2 * sigmoid(3) - 1 + 2 * sigmoid(1) - 1) / 4;
    expect(sampleConfidence(segLayout, seg, 0, 'margin')).toBeCloseTo(margin, 12);
  });

  it('answers per pixel; agreement is the fraction of equal pixels, ignoring labels outside the classes', () => {
    expect(Array.from(sampleClassMap(segLayout, seg, 0))).toEqual([0, 0, 1, 0]);
    expect(sampleAgreement(segLayout, seg, 0, [0, 1, 1, 0], 0)).toBe(0.75);
    expect(sampleAgreement(segLayout, seg, 0, [0, 255, 1, 0], 0)).toBe(1);
    expect(sampleAgreement(segLayout, seg, 0, [255, 255, 255, 255], 0)).toBe(1);
  });

  it('a lower-resolution exit is compared after nearest-neighbour upsampling', () => {
    const coarse = exitLayout('segmentation', [1, 2, 1, 1]);
    const logits = Float32Array.of(0, 2); // class 1 everywhere
    expect(Array.from(sampleClassMap(coarse, logits, 0, { height: 2, width: 2 }))).toEqual([1, 1, 1, 1]);
    expect(sampleAgreement(coarse, logits, 0, [0, 1, 1, 0], 0, { height: 2, width: 2 })).toBe(0.5);
    expect([0, 1, 2, 3].map((d) => nearestIndex(d, 4, 3))).toEqual([0, 0, 1, 2]);
    const out = new Float32Array(2 * 4);
    sampleLogitsAt(coarse, logits, 0, { height: 2, width: 2 }, out, 0);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 2, 2, 2, 2]);
    expect(answerSize(coarse, ['N', 2, 2, 2])).toEqual({ height: 2, width: 2 });
    expect(answerSize(coarse, ['N', 2, 'H', 'W'])).toEqual({ height: 1, width: 1 });
  });

  it('rejects tensors that do not fit the task', () => {
    expect(() => exitLayout('segmentation', [1, 2])).toThrow(
      /is \[1, 2\], but a segmentation exit must be \[N, classes, H, W\]/,
    );
    expect(() => exitLayout('detection', [1, 2])).toThrow(ExitEvaluationError);
  });
});

describe('assertExitsEvaluable', () => {
  const spec = (name: string, ...shape: (number | string)[]) => ({ name, dtype: 'float32', shape });

  it('accepts classifier and segmentation exits that fit their final output', () => {
    expect(exitEvaluationProblems('classification', [spec('e', 'N', 10)], spec('f', 'N', 10))).toEqual([]);
    expect(
      exitEvaluationProblems('segmentation', [spec('e', 'N', 21, 'H', 'W')], spec('f', 'N', 21, 'H', 'W')),
    ).toEqual([]);
    // Another resolution is fine when the final size is fixed: the exit is resampled to it.
    expect(exitEvaluationProblems('segmentation', [spec('e', 'N', 21, 16, 16)], spec('f', 'N', 21, 64, 64))).toEqual(
      [],
    );
    expect(exitEvaluationProblems('detection', [], spec('f', 'N', 5))).toEqual([]);
  });

  it('lists every problem in one line', () => {
    expect(() => assertExitsEvaluable('detection', [spec('e', 'N', 4)], spec('f', 'N', 4), 'm.onnx')).toThrow(
      /^m\.onnx: a detection model's outputs have no defined confidence/,
    );
    const problems = exitEvaluationProblems(
      'segmentation',
      [spec('a', 'N', 21), spec('b', 'N', 20, 'H', 'W'), spec('c', 'N', 21, 8, 8)],
      spec('f', 'N', 21, 'H', 'W'),
    );
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/exit 'a' float32 \[N, 21\] is not a segmentation output/);
    expect(problems[1]).toMatch(/has 20 classes, but the final output 'f' .* has 21/);
    expect(problems[2]).toMatch(/another size .* whose H × W is not fixed/);
    let error: unknown;
    try {
      assertExitsEvaluable('segmentation', [spec('b', 'N', 20, 'H', 'W')], spec('f', 'N', 21, 'H', 'W'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ExitEvaluationError);
    expect((error as ExitEvaluationError).code).toBe('exit_shape_mismatch');
    expect((error as Error).message).not.toContain('\n');
  });
});
