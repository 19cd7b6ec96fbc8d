import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ensureZooModel } from '../harness/mod.js';

describe('fixture zoo (torchvision, random weights, regenerated on demand)', () => {
  it.each(['mobilenet_v2', 'squeezenet1_1', 'resnet18'])(
    '%s exports and runs in onnxruntime-node with a dynamic batch',
    async (name) => {
      const path = await ensureZooModel(name);
      const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
      for (const n of [1, 2]) {
        const x = new ort.Tensor('float32', new Float32Array(n * 3 * 224 * 224).fill(0.5), [n, 3, 224, 224]);
        const out = await session.run({ [session.inputNames[0]!]: x });
        const logits = out[session.outputNames[0]!]!;
        expect(logits.dims).toEqual([n, 1000]);
        expect(Array.from(logits.data as Float32Array).every(Number.isFinite)).toBe(true);
      }
      await session.release();
    },
  );

  it('rejects an unknown architecture with a clear error', async () => {
    await expect(ensureZooModel('not_a_model')).rejects.toThrow(/not_a_model/);
  });
});
