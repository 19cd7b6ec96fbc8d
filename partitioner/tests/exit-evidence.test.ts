import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { sampleClassMap, exitLayout, seededRandom } from '@cleave/proto';
import { inMemoryCalibration } from '../src/datasets/calibration-data.js';
import type { LabelledImages } from '../src/datasets/labelled-images.js';
import { collectLogits } from '../src/exits/collect-logits.js';
import { calibrateExits } from '../src/exits/exit-calibration.js';
import { collectExitEvidence } from '../src/exits/exit-evidence.js';
import { attachPosthocExits } from '../src/exits/posthoc-exits.js';
import { evidenceFromLogits } from '../src/exits/threshold-calibration.js';
import { specToValueInfo } from '../src/graph/graph-surgery.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { encodeOnnxModel, parseOnnxModel } from '../src/onnx/onnx-model.js';
import { create, OnnxSchema } from '../src/onnx/onnx-schema.js';

type Shape = (number | string)[];
type NodeSpec = [op: string, inputs: string[], outputs: string[], attrs?: Record<string, number | number[]>];

/** A float32 ONNX model from node specs, with seeded random weights of the given shapes. */
function model(input: Shape, outputs: Record<string, Shape>, nodes: NodeSpec[], weights: Record<string, number[]>) {
  const random = seededRandom(5);
  const attribute = (attrs: Record<string, number | number[]> = {}) =>
    Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v) ? { name, type: 7, ints: v.map(BigInt) } : { name, type: 2, i: BigInt(v) },
    );
  return encodeOnnxModel(
    create(OnnxSchema.ModelProto, {
      irVersion: 8n,
      opsetImport: [{ domain: '', version: 17n }],
      graph: {
        name: 'g',
        node: nodes.map(([opType, i, o, attrs], k) => ({
          name: `n${k}`,
          opType,
          input: i,
          output: o,
          attribute: attribute(attrs),
        })),
        input: [specToValueInfo({ name: 'x', dtype: 'float32', shape: input })],
        output: Object.entries(outputs).map(([name, shape]) => specToValueInfo({ name, dtype: 'float32', shape })),
        initializer: Object.entries(weights).map(([name, dims]) => ({
          name,
          dataType: 1,
          dims: dims.map(BigInt),
          floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1),
        })),
      },
    }),
  );
}

function randomInputs(n: number, size: number, seed = 9): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n * size }, () => random());
}

// Classifier: exit_1 and logits are two linear read-outs of the flattened 1×4×4 input.
const classifier = model(
  ['N', 1, 4, 4],
  { exit_1: ['N', 3], logits: ['N', 3] },
  [
    ['Flatten', ['x'], ['flat']],
    ['Gemm', ['flat', 'w1'], ['exit_1']],
    ['Gemm', ['flat', 'w2'], ['logits']],
  ],
  { w1: [16, 3], w2: [16, 3] },
);

describe('exit evidence: classification', () => {
  const n = 300;
  const pixels = Uint8Array.from(randomInputs(n, 16), (v) => Math.floor(v * 256));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
  const idx: LabelledImages = { pixels, labels, count: n, height: 4, width: 4 };

  it('gives exactly the numbers of the logits-based evidence', async () => {
    const logits = await collectLogits(classifier, idx, ['exit_1', 'logits']);
    const streamed = await collectExitEvidence(classifier, idx, ['exit_1'], 'logits', {
      measures: ['max-prob', 'margin', 'entropy'],
    });
    expect(streamed.reference).toBe('labels');
    for (const measure of ['max-prob', 'margin', 'entropy'] as const) {
      const old = evidenceFromLogits(
        [{ output: 'exit_1', logits: logits.logits.get('exit_1')! }],
        logits.logits.get('logits')!,
        labels,
        3,
        measure,
      );
      const set = streamed.sets.get(measure)!;
      expect(Array.from(set.exits[0]!.confidence)).toEqual(Array.from(old.exits[0]!.confidence));
      expect(Array.from(set.exits[0]!.correct)).toEqual(Array.from(old.exits[0]!.correct));
      expect(Array.from(set.finalCorrect)).toEqual(Array.from(old.finalCorrect));
    }
    // And the calibration is the same from the IDX set and from the same samples as CalibrationData.
    const data = inMemoryCalibration({
      samples: pixels,
      sampleShape: [1, 4, 4],
      labels: Int32Array.from(labels),
      source: 's',
    });
    const a = await calibrateExits(classifier, ['N', 1, 4, 4], idx, ['exit_1'], 'logits', { budgetPoints: 2 });
    const b = await calibrateExits(classifier, ['N', 1, 4, 4], data, ['exit_1'], 'logits', { budgetPoints: 2 });
    expect(b).toEqual(a);
    expect(a.source).toBe('labels');
    expect(a.task).toBe('classification');
  });

  it('without labels, exits are calibrated to agree with the final output', async () => {
    const data = inMemoryCalibration({ samples: pixels, sampleShape: [1, 4, 4], source: 'unlabelled' });
    const cal = await calibrateExits(classifier, ['N', 1, 4, 4], data, ['exit_1'], 'logits', { budgetPoints: 1 });
    expect(cal.source).toBe('agreement');
    expect(cal.finalAccuracy).toBe(1);
    expect(cal.operatingPoint.accuracy).toBeGreaterThanOrEqual(0.99 - 1e-9);
    expect(cal.floorAccuracy).toBeCloseTo(0.97, 12);
    // The same agreement, measured directly: exit_1's argmax against the final output's.
    const logits = await collectLogits(classifier, data, ['exit_1', 'logits']);
    const e = logits.logits.get('exit_1')!;
    const f = logits.logits.get('logits')!;
    const layout = exitLayout('classification', [n, 3]);
    const agree = Array.from(
      { length: n },
      (_, i) => sampleClassMap(layout, e, i)[0] === sampleClassMap(layout, f, i)[0],
    );
    const evidence = await collectExitEvidence(classifier, data, ['exit_1'], 'logits', { measures: ['max-prob'] });
    expect(Array.from(evidence.sets.get('max-prob')!.exits[0]!.correct)).toEqual(agree.map(Number));
  });

  it('post-hoc heads train on the full model argmax when the set has no labels', async () => {
    const backbone = model(
      ['N', 1, 4, 4],
      { logits: ['N', 3] },
      [
        ['Conv', ['x', 'k'], ['feat'], { pads: [1, 1, 1, 1] }],
        ['Relu', ['feat'], ['relu']],
        ['Flatten', ['relu'], ['flat']],
        ['Gemm', ['flat', 'w'], ['logits']],
      ],
      { k: [4, 1, 3, 3], w: [64, 3] },
    );
    const parsed = parseOnnxModel(backbone, 'backbone.onnx');
    const data = inMemoryCalibration({ samples: pixels, sampleShape: [1, 4, 4], source: 'unlabelled' });
    const attached = await attachPosthocExits(parsed, indexGraph(parsed), new Map(), data, {
      attachTo: ['relu'],
      epochs: 5,
    });
    expect(attached.exits).toHaveLength(1);
    expect(attached.exits[0]).toMatchObject({ output: 'exit_1', attachedTo: 'relu', trainedOn: 'agreement' });
    expect(attached.exits[0]!.trainAccuracy).toBeGreaterThan(0.34);
    const session = await ort.InferenceSession.create(attached.bytes);
    expect(session.outputNames).toEqual(['exit_1', 'logits']);
    await session.release();
    await expect(
      attachPosthocExits(parsed, indexGraph(parsed), new Map(), data, { task: 'segmentation' }),
    ).rejects.toThrow(/post-hoc exit heads are classifiers, but the model's task is segmentation/);
  });
});

// Segmentation: the final map is a 1×1 conv of the 3×4×4 input; exit_2 is the same conv (always agrees), exit_1
// is it average-pooled to 2×2 (compared after nearest-neighbour upsampling).
const segmenter = model(
  ['N', 3, 4, 4],
  { exit_1: ['N', 2, 2, 2], exit_2: ['N', 2, 4, 4], seg: ['N', 2, 4, 4] },
  [
    ['Conv', ['x', 'k'], ['seg']],
    ['Conv', ['x', 'k'], ['exit_2']],
    ['AveragePool', ['seg'], ['exit_1'], { kernel_shape: [2, 2], strides: [2, 2] }],
  ],
  { k: [2, 3, 1, 1] },
);

describe('exit evidence: segmentation', () => {
  const n = 120;
  const samples = randomInputs(n, 48, 3);

  it('unlabelled: agreement per pixel, an identical exit takes every sample at budget 0', async () => {
    const data = inMemoryCalibration({ samples, sampleShape: [3, 4, 4], source: 'maps' });
    const cal = await calibrateExits(segmenter, ['N', 3, 4, 4], data, ['exit_1', 'exit_2'], 'seg', {
      task: 'segmentation',
      budgetPoints: 0,
    });
    expect(cal).toMatchObject({ task: 'segmentation', source: 'agreement', finalAccuracy: 1 });
    expect(cal.operatingPoint.exitRate).toBe(1);
    expect(cal.operatingPoint.accuracy).toBe(1);
    const evidence = await collectExitEvidence(segmenter, data, ['exit_1', 'exit_2'], 'seg', {
      task: 'segmentation',
      measures: ['max-prob'],
    });
    const set = evidence.sets.get('max-prob')!;
    expect(set.exits[1]!.correct.every((c) => c === 1)).toBe(true);
    // The coarse exit agrees on some pixels only, in sixteenths.
    expect(set.exits[0]!.correct.some((c) => c < 1)).toBe(true);
    expect(set.exits[0]!.correct.every((c) => Number.isInteger(c * 16))).toBe(true);
  });

  it('labelled with [H, W] maps: pixel accuracy against them; one label per sample is refused', async () => {
    const maps = new Int32Array(n * 16); // every pixel is class 0
    const data = inMemoryCalibration({
      samples,
      sampleShape: [3, 4, 4],
      labels: maps,
      labelShape: [4, 4],
      source: 'maps',
    });
    const cal = await calibrateExits(segmenter, ['N', 3, 4, 4], data, ['exit_1', 'exit_2'], 'seg', {
      task: 'segmentation',
    });
    expect(cal.source).toBe('labels');
    const session = await ort.InferenceSession.create(segmenter);
    const out = await session.run({ x: new ort.Tensor('float32', samples, [n, 3, 4, 4]) }, ['seg']);
    await session.release();
    const layout = exitLayout('segmentation', [n, 2, 4, 4]);
    let zeros = 0;
    for (let i = 0; i < n; i++)
      zeros += sampleClassMap(layout, out['seg']!.data as Float32Array, i).filter((c) => c === 0).length;
    expect(cal.finalAccuracy).toBeCloseTo(zeros / (n * 16), 12);
    const perSample = inMemoryCalibration({
      samples,
      sampleShape: [3, 4, 4],
      labels: new Int32Array(n),
      source: 'classes',
    });
    await expect(
      calibrateExits(segmenter, ['N', 3, 4, 4], perSample, ['exit_1'], 'seg', { task: 'segmentation' }),
    ).rejects.toThrow(/one label per sample, but a segmentation model needs \[H, W\] label maps/);
  });

  it('a classifier reading of a segmentation map is an error, not a silent skip', async () => {
    const data = inMemoryCalibration({ samples, sampleShape: [3, 4, 4], source: 'maps' });
    await expect(calibrateExits(segmenter, ['N', 3, 4, 4], data, ['exit_2'], 'seg')).rejects.toThrow(
      /output 'seg' is \[\d+, 2, 4, 4\], but a classification exit must be \[N, classes\]/,
    );
  });
});
