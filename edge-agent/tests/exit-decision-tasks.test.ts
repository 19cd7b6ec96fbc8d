import { describe, expect, it } from 'vitest';
import { type BundleManifest, ExitEvaluationError, sampleConfidence, exitLayout } from '@cleave/proto';
import { assertBundleExitsEvaluable, decideEarlyExit } from '../src/runtime/exit-decision.js';
import type { AgentTensor } from '../src/runtime/tensor-io.js';

const tensor = (name: string, dims: number[], values: number[]): AgentTensor => ({
  name,
  dtype: 'float32',
  dims,
  data: Float32Array.from(values),
});

describe('early exit decision: segmentation', () => {
  // Two samples, 2 classes. coarse: 1×1 maps; fine: 2×2 maps.
  // Sample 0 is sure at the coarse exit (class 1), sample 1 only at the fine one.
  const coarse = tensor('coarse', [2, 2, 1, 1], [0, 9, 0, 0]);
  const fine = tensor('fine', [2, 2, 2, 2], [0, 0, 0, 0, 1, 1, 1, 1, 9, 9, 0, 9, 0, 0, 9, 0]);
  const tensors = new Map([
    ['coarse', coarse],
    ['fine', fine],
  ]);
  const options = { task: 'segmentation' as const, finalShape: ['N', 2, 2, 2] };

  it('each sample leaves at its first confident exit; answers come at the final size', () => {
    const answer = decideEarlyExit(
      { names: ['coarse', 'fine'], tensors },
      { coarse: 0.9, fine: 0.9 },
      'max-prob',
      options,
    );
    expect(answer?.perSample).toEqual(['coarse', 'fine']);
    expect(answer?.dims).toEqual([2, 2, 2, 2]);
    // Sample 0: the coarse exit's 1×1 map, upsampled (nearest) to 2×2.
    expect(Array.from(answer!.logits.subarray(0, 8))).toEqual([0, 0, 0, 0, 9, 9, 9, 9]);
    expect(Array.from(answer!.logits.subarray(8))).toEqual([9, 9, 0, 9, 0, 0, 9, 0]);
  });

  it('uses the mean per-pixel confidence the partitioner calibrated with', () => {
    const layout = exitLayout('segmentation', [2, 2, 2, 2]);
    const c1 = sampleConfidence(layout, fine.data as Float32Array, 1, 'max-prob');
    const only = new Map([['fine', tensor('fine', [1, 2, 2, 2], [9, 9, 0, 9, 0, 0, 9, 0])]]);
    expect(decideEarlyExit({ names: ['fine'], tensors: only }, { fine: c1 }, 'max-prob', options)?.exit).toBe('fine');
    expect(
      decideEarlyExit({ names: ['fine'], tensors: only }, { fine: c1 + 1e-6 }, 'max-prob', options),
    ).toBeUndefined();
  });

  it('an exit that cannot be read under the task throws instead of being skipped', () => {
    const rows = new Map([['e', tensor('e', [1, 3], [1, 2, 3])]]);
    expect(() => decideEarlyExit({ names: ['e'], tensors: rows }, { e: 0.5 }, 'max-prob', options)).toThrow(
      ExitEvaluationError,
    );
    expect(() => decideEarlyExit({ names: ['e'], tensors: new Map() }, { e: 0.5 }, 'max-prob')).toThrow(
      /exit 'e' has a threshold but the head did not return it/,
    );
    // Null thresholds never answer and need no tensor.
    expect(decideEarlyExit({ names: ['e'], tensors: new Map() }, { e: null }, 'max-prob')).toBeUndefined();
  });
});

describe('assertBundleExitsEvaluable', () => {
  const manifest = (task: string | undefined, exitShape: (number | string)[], finalShape: (number | string)[]) =>
    ({
      version: 'v1',
      model: {
        id: 'm',
        ...(task === undefined ? {} : { task }),
        final: 'out',
        outputs: [
          { name: 'exit_1', dtype: 'float32', shape: exitShape },
          { name: 'out', dtype: 'float32', shape: finalShape },
        ],
      },
      exits: [{ output: 'exit_1' }],
    }) as unknown as BundleManifest;

  it('accepts classifier bundles without a task (older bundles) and fitting segmentation bundles', () => {
    expect(() => assertBundleExitsEvaluable(manifest(undefined, ['N', 10], ['N', 10]))).not.toThrow();
    expect(() =>
      assertBundleExitsEvaluable(manifest('segmentation', ['N', 21, 32, 32], ['N', 21, 128, 128])),
    ).not.toThrow();
  });

  it('refuses exits the agent cannot evaluate, naming the bundle', () => {
    expect(() => assertBundleExitsEvaluable(manifest('detection', ['N', 10], ['N', 10]))).toThrow(
      /^bundle m v1: a detection model's outputs have no defined confidence/,
    );
    expect(() => assertBundleExitsEvaluable(manifest('segmentation', ['N', 21, 32, 32], ['N', 21, 'H', 'W']))).toThrow(
      /whose H × W is not fixed/,
    );
    expect(() => assertBundleExitsEvaluable(manifest(undefined, ['N', 10, 4, 4], ['N', 10]))).toThrow(
      /exit 'exit_1' float32 \[N, 10, 4, 4\] is not a classification output/,
    );
  });
});
