import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import {
  encodeOnnxModel,
  loadMnistSplit,
  loadOnnxModel,
  OnnxSchema,
  specToValueInfo,
  withFields,
  prepareModel,
  type CalibrationSet,
  type LabelledImages,
} from '@cleave/partitioner';
import { measureExitPolicy, runCleave } from '../harness/mod.js';

// Calibration comes from the train split only; t10k is used for nothing but the final measurement.
let train: LabelledImages;
let t10k: LabelledImages;
let calibration: CalibrationSet;
beforeAll(async () => {
  [train, t10k] = await Promise.all([loadMnistSplit('train'), loadMnistSplit('t10k')]);
  calibration = { data: train, source: 'fashion-mnist train', trainSamples: 20_000, holdoutSamples: 5_000 };
});

describe('early exits, measured on Fashion-MNIST t10k (never used for training or calibration)', () => {
  it('built-in exits: >= 55% answered early, within 1.0 point of the final exit alone', async () => {
    const prepared = await prepareModel(EXAMPLE_MODEL_WITH_EXITS, { calibration });
    expect(prepared.exits).toEqual(['exit_1', 'exit_2']);
    expect(prepared.posthoc).toEqual([]);
    const { point, finalAccuracy, calibration: cal } = await measureExitPolicy(prepared, t10k);
    expect(point.exitRate).toBeGreaterThanOrEqual(0.55);
    expect(point.accuracy).toBeGreaterThanOrEqual(finalAccuracy - 0.01);
    // The curve lets the agent trade accuracy for exits; it must be monotone in the budget.
    for (let i = 1; i < cal.curve.length; i++)
      expect(cal.curve[i]!.exitRate).toBeGreaterThanOrEqual(cal.curve[i - 1]!.exitRate);
    expect(cal.floorAccuracy).toBeLessThan(cal.finalAccuracy);
  });

  it('post-hoc exits on the backbone-only model: >= 40% answered early within 1.0 point, deterministically', async () => {
    const prepared = await prepareModel(EXAMPLE_MODEL_BACKBONE, { calibration, posthocExits: 3 });
    expect(prepared.posthoc.length).toBeGreaterThanOrEqual(1);
    const { point, finalAccuracy } = await measureExitPolicy(prepared, t10k);
    expect(point.exitRate).toBeGreaterThanOrEqual(0.4);
    expect(point.accuracy).toBeGreaterThanOrEqual(finalAccuracy - 0.01);
    const again = await prepareModel(EXAMPLE_MODEL_BACKBONE, { calibration, posthocExits: 3 });
    expect(Buffer.from(again.model.bytes).equals(Buffer.from(prepared.model.bytes))).toBe(true);
  });

  it('heads with exits plus tails still reproduce the full model exactly, and exits match the full model', async () => {
    const prepared = await prepareModel(EXAMPLE_MODEL_WITH_EXITS);
    const full = await ort.InferenceSession.create(prepared.model.bytes);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 97) / 97),
      [2, 1, 28, 28],
    );
    const ref = await full.run({ input: x });
    const splits = prepared.candidates.filter((c) => c.kind === 'split');
    expect(splits.some((c) => c.exits.length === 2)).toBe(true);
    expect(splits.some((c) => c.exits.length === 0)).toBe(true);
    for (const c of splits) {
      const head = await ort.InferenceSession.create(c.head!());
      const tail = await ort.InferenceSession.create(c.tail!());
      expect(tail.outputNames).toEqual(['logits']);
      const mid = await head.run({ input: x });
      for (const e of c.exits) {
        const a = mid[e]!.data as Float32Array;
        const b = ref[e]!.data as Float32Array;
        a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(b[i]!))));
      }
      const out = await tail.run(Object.fromEntries(c.wire.map((w) => [w.name, mid[w.name]!])));
      const got = out['logits']!.data as Float32Array;
      const want = ref['logits']!.data as Float32Array;
      const scale = Math.max(...Array.from(want, Math.abs));
      got.forEach((v, i) => expect(Math.abs(v - want[i]!) / scale).toBeLessThanOrEqual(1e-4));
    }
  });
});

/** Writes an MNIST-layout IDX pair: `count` images of h×w and the given labels. */
async function writeIdxSet(dir: string, count: number, h: number, w: number, labels: number[]): Promise<void> {
  const header = (type: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b[2] = type;
    b[3] = dims.length;
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  await writeFile(
    join(dir, 'train-images-idx3-ubyte.gz'),
    gzipSync(Buffer.concat([header(8, [count, h, w]), Buffer.alloc(count * h * w, 7)])),
  );
  await writeFile(
    join(dir, 'train-labels-idx1-ubyte.gz'),
    gzipSync(Buffer.concat([header(8, [labels.length]), Buffer.from(labels)])),
  );
}

describe('early exits: bad input gets a clear one-line error and no bundle', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cleave-exits-'));
  });

  async function partitionFails(args: string[], message: RegExp): Promise<void> {
    const out = join(work, `out-${Math.random().toString(16).slice(2)}`);
    const res = await runCleave(['partition', ...args, '--out', out, '--runs', '1']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(message);
    expect((await readdir(work)).filter((f) => f.includes(out.split('/').pop()!))).toEqual([]);
  }

  it('a calibration set whose label count does not match its images', async () => {
    const dir = await mkdtemp(join(work, 'labels-'));
    await writeIdxSet(
      dir,
      20,
      28,
      28,
      Array.from({ length: 19 }, (_, i) => i % 10),
    );
    await partitionFails([EXAMPLE_MODEL_WITH_EXITS, '--calib', dir], /19 labels for 20 images/);
  });

  it('a calibration set whose image shape does not match the model input', async () => {
    const dir = await mkdtemp(join(work, 'shape-'));
    await writeIdxSet(
      dir,
      20,
      32,
      32,
      Array.from({ length: 20 }, (_, i) => i % 10),
    );
    await partitionFails(
      [EXAMPLE_MODEL_WITH_EXITS, '--calib', dir],
      /ExitError: .*32×32 .* model input is \[N, 1, 28, 28\]/,
    );
  });

  it('a calibration set with labels outside the model classes', async () => {
    const dir = await mkdtemp(join(work, 'classes-'));
    await writeIdxSet(
      dir,
      20,
      28,
      28,
      Array.from({ length: 20 }, (_, i) => i % 12),
    );
    await partitionFails([EXAMPLE_MODEL_WITH_EXITS, '--calib', dir], /label 11, but .* only 10 classes/);
  });

  it('an empty calibration set', async () => {
    const dir = await mkdtemp(join(work, 'empty-'));
    await writeIdxSet(dir, 0, 28, 28, []);
    await partitionFails([EXAMPLE_MODEL_WITH_EXITS, '--calib', dir], /calibration set is empty/);
  });

  it('a non-classifier output chosen as an exit', async () => {
    const model = await loadOnnxModel(EXAMPLE_MODEL_BACKBONE);
    const feature = model.graph.node[5]!.output[0]!;
    const path = join(work, 'with-features.onnx');
    const output = specToValueInfo({ name: feature, dtype: 'float32', shape: ['N', 24, 28, 28] });
    const graph = withFields(OnnxSchema.GraphProto, model.graph, { output: [...model.graph.output, output] });
    await writeFile(path, encodeOnnxModel(withFields(OnnxSchema.ModelProto, model.proto, { graph })));
    await partitionFails([path, '--exits', feature], /is not a classification output: expected float32 \[N, classes\]/);
  });

  it('an exit name the model does not have', async () => {
    await partitionFails([EXAMPLE_MODEL_WITH_EXITS, '--exits', 'exit_9'], /no output 'exit_9'/);
  });
});
