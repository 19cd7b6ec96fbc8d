// The side-by-side bench compares every final output and reads the primary one through the task.
import { describe, expect, it } from 'vitest';
import { type BundleManifest } from '@cleave/proto';
import {
  answerOf,
  benchFinals,
  compareAnswers,
  comparisonLine,
  MAX_VALUES,
  predictionOf,
  splitRawReply,
  type BenchFinals,
} from './final-answers.js';

const manifestWith = (model: Partial<BundleManifest['model']>, exits: string[] = []): BundleManifest =>
  ({
    model: { outputs: [], ...model },
    exits: exits.map((output) => ({ output })),
  }) as unknown as BundleManifest;

describe('benchFinals', () => {
  it('lists every output that is not an exit, with the primary and the task (classification by default)', () => {
    const f = benchFinals(
      manifestWith(
        {
          outputs: [
            { name: 'exit_1', dtype: 'float32', shape: [1, 10] },
            { name: 'logits', dtype: 'float32', shape: [1, 10] },
          ],
        },
        ['exit_1'],
      ),
    );
    expect(f).toEqual({ task: 'classification', names: ['logits'], primary: 'logits' });
    const det = benchFinals(
      manifestWith({
        task: 'detection',
        final: 'scores',
        outputs: [
          { name: 'boxes', dtype: 'float32', shape: [1, 5, 4] },
          { name: 'scores', dtype: 'float32', shape: [1, 5] },
        ],
      }),
    );
    expect(det).toEqual({ task: 'detection', names: ['boxes', 'scores'], primary: 'scores' });
  });
});

describe('predictionOf', () => {
  it('reads a class per sample, a class per pixel, or nothing for tasks without a confidence', () => {
    expect(predictionOf('classification', { name: 'l', dims: [2, 3], data: [0, 5, 1, 9, 0, 0] })).toEqual([1, 0]);
    // [1, 2, 1, 3]: channel 1 wins at pixels 0 and 2.
    expect(predictionOf('segmentation', { name: 'm', dims: [1, 2, 1, 3], data: [0, 4, 0, 1, 2, 3] })).toEqual([
      1, 0, 1,
    ]);
    expect(predictionOf('detection', { name: 'b', dims: [1, 4], data: [1, 2, 3, 4] })).toBeNull();
  });
});

describe('answerOf and compareAnswers', () => {
  const finals: BenchFinals = { task: 'classification', names: ['logits', 'ids'], primary: 'logits' };

  it('keeps every final output, matched by name or position, and refuses a partial answer', () => {
    const a = answerOf(
      finals,
      [
        { name: 'ids', dims: [1, 2], data: new BigInt64Array([3n, 4n]) },
        { name: 'logits', dims: [1, 3], data: new Float32Array([0, 2, 1]) },
      ],
      'x',
    );
    expect(a).toEqual({
      predicted: [1],
      outputs: { logits: { dims: [1, 3], values: [0, 2, 1] }, ids: { dims: [1, 2], values: [3, 4] } },
    });
    const byPosition = answerOf(
      finals,
      [
        { name: 'out0', dims: [1, 3], data: [0, 0, 1] },
        { name: 'out1', dims: [1, 2], data: [1, 1] },
      ],
      'x',
    );
    expect(byPosition.predicted).toEqual([2]);
    expect(() => answerOf(finals, [{ name: 'logits', dims: [1, 3], data: [0, 0, 1] }], 'cloud-raw')).toThrow(
      "cloud-raw: no final output 'ids'",
    );
    const big = answerOf(
      { task: 'dense', names: ['d'], primary: 'd' },
      [{ name: 'd', dims: [1, 3 * MAX_VALUES], data: new Float32Array(3 * MAX_VALUES) }],
      'x',
    );
    expect(big.outputs.d!.values.length).toBeLessThanOrEqual(MAX_VALUES);
    expect(big.predicted).toBeNull();
  });

  it('reports agreement of the primary prediction and the error of every final output', () => {
    const answer = (logits: number[], ids: number[]) =>
      answerOf(
        finals,
        [
          { name: 'logits', dims: [1, 3], data: logits },
          { name: 'ids', dims: [1, 2], data: ids },
        ],
        'x',
      );
    const reference = [answer([0, 2, 1], [3, 4]), answer([5, 0, 0], [1, 1])];
    const other = [answer([0, 2.2, 1], [3, 4]), answer([0, 6, 0], [1, 2])];
    const [logits, ids] = compareAnswers(finals, reference, other);
    expect(logits).toMatchObject({ output: 'logits', primary: true, n: 2, agreementPct: 50, dimMismatches: 0 });
    expect(logits!.maxRelativeError).toBeCloseTo(6 / 5);
    expect(ids).toMatchObject({ output: 'ids', primary: false, agreementPct: null, maxRelativeError: 0.25 });
    expect(comparisonLine('cleave', [logits!, ids!])).toBe(
      'cleave vs edge-only on 2 requests — logits (primary): 50.00% agreement, max rel. error 1.2000; ids: max rel. error 0.2500',
    );
  });
});

describe('splitRawReply', () => {
  it('reads every final output back from the cloud-only baseline reply, in order', () => {
    const bytes = new Uint8Array(3 * 4 + 2 * 8);
    const view = new DataView(bytes.buffer);
    [0.5, -1, 2].forEach((v, i) => view.setFloat32(4 * i, v, true));
    [7n, 9n].forEach((v, i) => view.setBigInt64(12 + 8 * i, v, true));
    const specs = [
      { name: 'logits', dtype: 'float32', shape: ['N', 3] },
      { name: 'ids', dtype: 'int64', shape: ['N', 2] },
    ];
    expect(splitRawReply(specs, bytes)).toEqual([
      { name: 'logits', dims: [1, 3], data: [0.5, -1, 2] },
      { name: 'ids', dims: [1, 2], data: [7, 9] },
    ]);
    expect(() => splitRawReply(specs, bytes.subarray(0, 20))).toThrow('too short');
    expect(() => splitRawReply(specs.slice(0, 1), bytes)).toThrow('bytes left');
  });
});
