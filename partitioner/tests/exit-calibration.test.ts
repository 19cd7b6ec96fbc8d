import { describe, expect, it } from 'vitest';
import { seededRandom } from '@cleave/proto';
import { confidence } from '../src/exits/confidence.js';
import { applyLinear, trainSoftmaxRegression } from '../src/exits/softmax-regression.js';
import { calibrateThresholds, exitCurve, simulate, type ExitEvidenceSet } from '../src/exits/threshold-calibration.js';

describe('confidence measures', () => {
  it('score a uniform softmax lowest and a peaked one highest', () => {
    const uniform = [0, 0, 0, 0];
    const peaked = [20, 0, 0, 0];
    expect(confidence(uniform, 0, 4, 'max-prob')).toBeCloseTo(0.25);
    expect(confidence(uniform, 0, 4, 'margin')).toBeCloseTo(0);
    expect(confidence(uniform, 0, 4, 'entropy')).toBeCloseTo(0);
    for (const m of ['max-prob', 'margin', 'entropy'] as const)
      expect(confidence(peaked, 0, 4, m)).toBeGreaterThan(0.99);
  });
});

describe('softmax regression', () => {
  it('learns separable classes and is deterministic for a seed', () => {
    const random = seededRandom(7);
    const n = 600;
    const x = new Float32Array(n * 2);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      x[2 * i] = labels[i]! * 3 + random();
      x[2 * i + 1] = -labels[i]! * 2 + random();
    }
    const a = trainSoftmaxRegression(x, labels, 2, 3, { seed: 3, epochs: 30 });
    const b = trainSoftmaxRegression(x, labels, 2, 3, { seed: 3, epochs: 30 });
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    const logits = applyLinear(a, x, n);
    let right = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === labels[i]) right++;
    }
    expect(right / n).toBeGreaterThan(0.95);
  });

  it('rejects mismatched inputs by naming the argument', () => {
    expect(() => trainSoftmaxRegression(new Float32Array(3), [0, 1], 2, 2)).toThrow(/'x' has 3 values, expected 2 × 2/);
    expect(() => trainSoftmaxRegression(new Float32Array(0), [], 2, 2)).toThrow(/'labels' must not be empty/);
  });
});

/** One exit whose correctness rises with confidence, and a final output right 90% of the time. */
function evidence(n: number): ExitEvidenceSet {
  const random = seededRandom(11);
  const conf = new Float64Array(n);
  const correct = new Uint8Array(n);
  const finalCorrect = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    conf[i] = random();
    correct[i] = random() < 0.4 + 0.6 * conf[i]! ? 1 : 0;
    finalCorrect[i] = random() < 0.9 ? 1 : 0;
  }
  return { exits: [{ output: 'exit_1', confidence: conf, correct }], finalCorrect, samples: n };
}

describe('threshold calibration', () => {
  const set = evidence(4000);
  const finalAccuracy = set.finalCorrect.reduce((a, b) => a + b, 0) / set.samples;

  it('maximises the exit rate while staying within the accuracy budget', () => {
    for (const budget of [0, 1, 3]) {
      const point = calibrateThresholds(set, budget);
      expect(point.accuracy).toBeGreaterThanOrEqual(finalAccuracy - budget / 100 - 1e-9);
      // No looser threshold on the grid would still meet the budget with a higher exit rate.
      const t = point.thresholds['exit_1'] ?? Infinity;
      const looser = simulate(set, [t - 0.02]);
      if (looser.exitRate > point.exitRate) expect(looser.accuracy).toBeLessThan(finalAccuracy - budget / 100 + 0.002);
    }
    expect(calibrateThresholds(set, 3).exitRate).toBeGreaterThan(calibrateThresholds(set, 0).exitRate);
  });

  it('spends no more than the budget on an exit that is always wrong', () => {
    const hopeless: ExitEvidenceSet = {
      ...set,
      exits: [{ output: 'exit_1', confidence: set.exits[0]!.confidence, correct: new Uint8Array(set.samples) }],
    };
    const point = calibrateThresholds(hopeless, 1);
    expect(point.accuracy).toBeGreaterThanOrEqual(finalAccuracy - 0.01 - 1e-9);
    // Each wrong early answer costs one point per hundred samples, so the budget allows about 1.1% of exits.
    expect(point.exitRate).toBeLessThan(0.012);
    expect(calibrateThresholds(hopeless, 0).accuracy).toBeGreaterThanOrEqual(finalAccuracy - 1e-9);
  });

  it('builds a curve whose exit rate grows with the budget', () => {
    const curve = exitCurve(set, [0, 1, 2, 5]);
    expect(curve.map((p) => p.budgetPoints)).toEqual([0, 1, 2, 5]);
    for (let i = 1; i < curve.length; i++) expect(curve[i]!.exitRate).toBeGreaterThanOrEqual(curve[i - 1]!.exitRate);
  });
});
