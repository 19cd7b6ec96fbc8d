// The console's model view reads the task and the exit policy's reference: axis labels, "splits only" for tasks
// without a confidence, every final output, and reply sizes in the split costs.
import { describe, expect, it } from 'vitest';
import { type BundleManifest, parseBundleManifest } from '@cleave/proto';
import { bundleView } from '../src/bundle-view.js';
import { planCandidatesFromManifest } from '../src/console-api.js';

const SHA = 'a'.repeat(64);
const point = { budgetPoints: 1, thresholds: { exit_1: 0.8 }, exitRate: 0.5, accuracy: 0.9, perExit: [] };

function manifest(model: Record<string, unknown>, extra: Record<string, unknown> = {}): BundleManifest {
  const spec = (name: string, shape: (number | string)[] = ['N', 4]) => ({ name, dtype: 'float32', shape });
  return parseBundleManifest({
    format: 'cleave.bundle/v1',
    version: 'v000000000001',
    createdAt: '2026-01-01T00:00:00.000Z',
    model: { id: 'm', file: 'model.onnx', sha256: SHA, inputs: [spec('input')], ...model },
    files: { 'model.onnx': { sha256: SHA, bytes: 1 }, 'tail.onnx': { sha256: SHA, bytes: 1 } },
    candidates: [
      {
        id: 'split-a',
        kind: 'split',
        cut: ['cut'],
        cutTensors: [spec('cut')],
        head: 'model.onnx',
        tail: 'tail.onnx',
        bytesPerSample: { f32: 16, f16: 8, int8: 4 },
        replyBytesPerSample: { f32: 4000, f16: 2000, int8: 2000 },
        profile: {
          edge: { medianMs: 1, p90Ms: 1, runs: 1, batch: 1 },
          cloud: { medianMs: 1, p90Ms: 1, runs: 1, batch: 1 },
        },
        exitRate: 0.5,
      },
    ],
    plan: { rttMs: 5, maxPayloadBytes: 1 << 20, downlinkRatio: 4, objectives: ['latency'], ranges: [] },
    ...extra,
  });
}

const withExits = (reference?: 'labels' | 'agreement') => ({
  exits: [{ output: 'exit_1', kind: 'built-in' }],
  exitPolicy: {
    measure: 'max-prob',
    budgetPoints: 1,
    floorAccuracy: 0.87,
    finalAccuracy: 0.9,
    samples: 10,
    source: 'x',
    ...(reference ? { reference } : {}),
    operatingPoint: point,
    curve: [point],
  },
});

describe('bundleView', () => {
  it('reads an older classifier bundle as classification, measured against labels', () => {
    const view = bundleView(
      manifest(
        {
          outputs: [
            { name: 'exit_1', dtype: 'float32', shape: ['N', 4] },
            { name: 'logits', dtype: 'float32', shape: ['N', 4] },
          ],
        },
        withExits(),
      ),
    );
    expect(view).toMatchObject({ task: 'classification', taskDeclared: false, exits: ['exit_1'], downlinkRatio: 4 });
    expect(view.finals).toEqual([{ name: 'logits', dtype: 'float32', shape: ['N', 4], primary: true }]);
    expect(view.exitCurve).toEqual({ available: true, note: null, metric: 'accuracy', reference: 'labels' });
    // An older bundle names three codecs; the compressed ones are filled from their base codec's size.
    expect(view.candidates[0]!.replyBytesPerSample).toMatchObject({ f32: 4000, f16: 2000, int8: 2000 });
  });

  it('labels segmentation curves pixel accuracy, and unlabelled calibration agreement with the full model', () => {
    const seg = (reference?: 'labels' | 'agreement') =>
      bundleView(
        manifest(
          {
            task: 'segmentation',
            final: 'mask',
            outputs: [
              { name: 'exit_1', dtype: 'float32', shape: ['N', 3, 8, 8] },
              { name: 'mask', dtype: 'float32', shape: ['N', 3, 32, 32] },
            ],
          },
          withExits(reference),
        ),
      ).exitCurve;
    expect(seg('labels').metric).toBe('pixel accuracy');
    expect(seg('agreement')).toMatchObject({ available: true, metric: 'agreement with the full model' });
  });

  it('shows splits only for tasks without a confidence, with every final output', () => {
    const view = bundleView(
      manifest({
        task: 'detection',
        final: 'boxes',
        outputs: [
          { name: 'boxes', dtype: 'float32', shape: ['N', 100, 4] },
          { name: 'labels', dtype: 'int64', shape: ['N', 100] },
        ],
      }),
    );
    expect(view.task).toBe('detection');
    expect(view.finals.map((f) => [f.name, f.dtype, f.primary])).toEqual([
      ['boxes', 'float32', true],
      ['labels', 'int64', false],
    ]);
    expect(view.exitCurve).toMatchObject({
      available: false,
      note: 'splits only (no early exits for detection models)',
    });
    // No exit answers a detector's requests: the console's costs must not count the candidate's exit rate.
    expect(
      planCandidatesFromManifest(
        manifest({ task: 'detection', outputs: [{ name: 'o', dtype: 'float32', shape: ['N', 4] }] }),
      )[0],
    ).toMatchObject({
      exitRate: 0,
      replyBytesPerSample: { f32: 4000 },
    });
  });

  it('shows splits only when several final outputs leave nothing for an exit to stand in for', () => {
    const view = bundleView(
      manifest(
        {
          final: 'logits',
          outputs: [
            { name: 'exit_1', dtype: 'float32', shape: ['N', 4] },
            { name: 'logits', dtype: 'float32', shape: ['N', 4] },
            { name: 'embedding', dtype: 'float32', shape: ['N', 16] },
          ],
        },
        withExits(),
      ),
    );
    expect(view.finals.map((f) => f.name)).toEqual(['logits', 'embedding']);
    expect(view.exitCurve.available).toBe(false);
    expect(view.exitCurve.note).toContain('2 final outputs');
    expect(
      planCandidatesFromManifest(manifest({ outputs: [{ name: 'o', dtype: 'float32', shape: ['N', 4] }] }))[0]!
        .exitRate,
    ).toBe(0.5);
  });
});
