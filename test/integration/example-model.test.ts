import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS, REPO_ROOT } from '@cleave/cli';
import { loadMnistSplit, measureClassifierAccuracy, toUnitFloatBatch, type LabelledImages } from '@cleave/partitioner';

interface MetricsFile {
  dataset: { split: string; samples: number };
  models: { file: string; outputs: { output: string; top1: number; correct: number }[] }[];
}

describe('example model (Fashion-MNIST, two built-in early exits)', () => {
  let t10k: LabelledImages;
  beforeAll(async () => {
    t10k = await loadMnistSplit('t10k');
  });

  it('is small enough to commit and exposes exits then the final head', async () => {
    for (const file of [EXAMPLE_MODEL_WITH_EXITS, EXAMPLE_MODEL_BACKBONE]) {
      expect((await stat(file)).size).toBeLessThan(2 * 1024 * 1024);
    }
    const withExits = await ort.InferenceSession.create(EXAMPLE_MODEL_WITH_EXITS);
    expect(withExits.inputNames).toEqual(['input']);
    expect(withExits.outputNames).toEqual(['exit_1', 'exit_2', 'logits']);
    const backbone = await ort.InferenceSession.create(EXAMPLE_MODEL_BACKBONE);
    expect(backbone.outputNames).toEqual(['logits']);

    // Dynamic batch, and the backbone-only export computes the same final logits.
    for (const n of [1, 7]) {
      const x = new ort.Tensor('float32', toUnitFloatBatch(t10k, 0, n), [n, 1, 28, 28]);
      const a = (await withExits.run({ input: x }))['logits']!;
      const b = (await backbone.run({ input: x }))['logits']!;
      expect(a.dims).toEqual([n, 10]);
      const da = a.data as Float32Array;
      const db = b.data as Float32Array;
      for (let i = 0; i < da.length; i++) expect(Math.abs(da[i]! - db[i]!)).toBeLessThan(1e-4);
    }
  });

  it('scores >= 90% top-1 at the final exit on t10k, and metrics.json records exactly what was measured', async () => {
    const measured = await measureClassifierAccuracy(EXAMPLE_MODEL_WITH_EXITS, t10k, { batchSize: 500 });
    expect(measured.samples).toBe(10_000);
    const final = measured.outputs.find((o) => o.output === 'logits')!;
    expect(final.top1).toBeGreaterThanOrEqual(0.9);
    // Early exits are cheaper and less accurate, but must still be far above chance (10%).
    for (const exit of measured.outputs.filter((o) => o.output.startsWith('exit_'))) {
      expect(exit.top1).toBeGreaterThan(0.7);
      expect(exit.top1).toBeLessThanOrEqual(final.top1 + 0.01);
    }

    const metrics = JSON.parse(await readFile(join(REPO_ROOT, 'models/fmnist/metrics.json'), 'utf8')) as MetricsFile;
    expect(metrics.dataset).toMatchObject({ split: 't10k', samples: 10_000 });
    const recorded = metrics.models.find((m) => m.file === 'fmnist-exits.onnx')!;
    expect(recorded.outputs.map((o) => [o.output, o.correct])).toEqual(
      measured.outputs.map((o) => [o.output, o.correct]),
    );
  });
});
