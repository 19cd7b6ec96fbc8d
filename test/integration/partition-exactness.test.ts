import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_BACKBONE } from '@cleave/cli';
import { prepareModel, type Candidate, type OnnxModel } from '@cleave/partitioner';
import { ensureZooModel } from '../harness/mod.js';

const TOLERANCE = 1e-4;

/** Deterministic input in [0, 1) with a batch of 2, so the dynamic batch dim is exercised. */
function inputFor(model: OnnxModel): Record<string, ort.Tensor> {
  return Object.fromEntries(
    model.inputs.map((spec) => {
      const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 2));
      const n = dims.reduce((a, b) => a * b, 1);
      return [
        spec.name,
        new ort.Tensor(
          'float32',
          Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2),
          dims,
        ),
      ];
    }),
  );
}

/** Largest |a - b| relative to the largest |a|, over all outputs. */
function relativeError(
  ref: ort.InferenceSession.ReturnType,
  got: ort.InferenceSession.ReturnType,
  names: string[],
): number {
  let worst = 0;
  for (const name of names) {
    const a = ref[name]!.data as Float32Array;
    const b = got[name]!.data as Float32Array;
    expect(got[name]!.dims).toEqual(ref[name]!.dims);
    let maxDiff = 0;
    let scale = 1e-12;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    worst = Math.max(worst, maxDiff / scale);
  }
  return worst;
}

async function checkExactness(path: string): Promise<readonly Candidate[]> {
  const { model, candidates } = await prepareModel(path);
  const feeds = inputFor(model);
  const outputs = model.outputs.map((o) => o.name);
  const full = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: 1 });
  const ref = await full.run(feeds);
  await full.release();
  for (const c of candidates.filter((x) => x.kind === 'split')) {
    const head = await ort.InferenceSession.create(c.head!(), { intraOpNumThreads: 1 });
    const tail = await ort.InferenceSession.create(c.tail!(), { intraOpNumThreads: 1 });
    expect(head.inputNames).toEqual(model.inputs.map((i) => i.name));
    expect(head.outputNames).toEqual(c.wire.map((w) => w.name));
    expect([...tail.inputNames].sort()).toEqual(c.wire.map((w) => w.name).sort());
    expect(tail.outputNames).toEqual(outputs);
    const mid = await head.run(feeds);
    const got = await tail.run(Object.fromEntries(c.wire.map((w) => [w.name, mid[w.name]!])));
    const err = relativeError(ref, got, outputs);
    expect(err, `${path} ${c.id} [${c.wire.map((w) => w.name).join(', ')}]`).toBeLessThanOrEqual(TOLERANCE);
    await head.release();
    await tail.release();
  }
  return candidates;
}

describe('partitioner exactness: head then tail equals the full model (1e-4 relative, f32)', () => {
  it('example model (backbone)', async () => {
    const candidates = await checkExactness(EXAMPLE_MODEL_BACKBONE);
    expect(candidates.filter((c) => c.kind === 'split').length).toBeGreaterThan(5);
  });

  it.each(['mobilenet_v2', 'squeezenet1_1', 'resnet18'])('%s', async (name) => {
    const candidates = await checkExactness(await ensureZooModel(name));
    expect(candidates.map((c) => c.kind)).toContain('edge-only');
    expect(candidates.map((c) => c.kind)).toContain('cloud-only');
    // Every wire tensor keeps a symbolic batch dim, so one head serves any batch size.
    for (const c of candidates.filter((x) => x.kind === 'split')) {
      expect(c.wire.some((w) => w.shape[0] === 'batch')).toBe(true);
    }
  });

  it('googlenet (inception modules): multi-tensor cuts where no single-tensor cut exists, still exact', async () => {
    const candidates = await checkExactness(await ensureZooModel('googlenet'));
    const multi = candidates.filter((c) => c.origin === 'min-cut');
    expect(multi.length).toBeGreaterThanOrEqual(5);
    expect(multi.every((c) => c.wire.length >= 2)).toBe(true);
  });
});
