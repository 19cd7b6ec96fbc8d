import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_BACKBONE } from '@cleave/cli';
import { loadOnnxModel, encodeOnnxModel } from '@cleave/partitioner';
import { runCleave } from '../harness/mod.js';

interface Manifest {
  format: string;
  version: string;
  model: { id: string; sha256: string; inputs: { name: string }[]; outputs: { name: string }[] };
  files: Record<string, { sha256: string; bytes: number }>;
  candidates: { id: string; kind: string; cut: string[]; head: string | null; tail: string | null }[];
  plan: { ranges: { objective: string; candidate: string }[]; candidates: string[] };
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-partition-'));
});

describe('cleave partition', () => {
  it('writes a complete, hashed bundle whose heads and tails run', async () => {
    const out = join(work, 'bundle');
    const res = await runCleave([
      'partition',
      EXAMPLE_MODEL_BACKBONE,
      '--out',
      out,
      '--runs',
      '3',
      '--model-id',
      'fmnist',
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/objective\s+from Mbps\s+to Mbps\s+candidate/);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.format).toBe('cleave.bundle/v1');
    expect(manifest.version).toMatch(/^v[0-9a-f]{12}$/);
    expect(manifest.model.id).toBe('fmnist');
    for (const [rel, { sha256, bytes }] of Object.entries(manifest.files)) {
      const content = await readFile(join(out, rel));
      expect(content.length).toBe(bytes);
      expect(createHash('sha256').update(content).digest('hex')).toBe(sha256);
    }
    const kinds = manifest.candidates.map((c) => c.kind);
    expect(kinds).toContain('edge-only');
    expect(kinds).toContain('cloud-only');
    for (const r of manifest.plan.ranges) expect(manifest.plan.candidates).toContain(r.candidate);

    const split = manifest.candidates.find((c) => c.kind === 'split')!;
    const head = await ort.InferenceSession.create(join(out, split.head!));
    const tail = await ort.InferenceSession.create(join(out, split.tail!));
    const x = new ort.Tensor('float32', new Float32Array(3 * 784).fill(0.3), [3, 1, 28, 28]);
    const mid = await head.run({ input: x });
    expect(Object.keys(mid)).toEqual(split.cut);
    const y = await tail.run(mid);
    expect(y['logits']!.dims).toEqual([3, 10]);

    const again = await runCleave(['partition', EXAMPLE_MODEL_BACKBONE, '--out', out, '--runs', '1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; choose another --out or pass --force/);

    const plan = await runCleave(['plan', out, '--bandwidth', '0.13,100']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('at 0.13 Mbps (best first)');

    const broken = join(work, 'broken-bundle');
    await mkdir(broken);
    await writeFile(join(broken, 'manifest.json'), JSON.stringify({ ...manifest, candidates: 'none' }));
    const bad = await runCleave(['plan', broken]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ProtocolError: .*candidates/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('cleave partition: bad input gets a one-line error, a non-zero exit, and no bundle', () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['a missing file', () => Promise.resolve(join(work, 'nope.onnx')), /nope\.onnx: cannot read/],
    [
      'a file that is not ONNX',
      async () => {
        const p = join(work, 'text.onnx');
        await writeFile(p, 'definitely not a protobuf model\n'.repeat(10));
        return p;
      },
      /not an ONNX model/,
    ],
    [
      'a truncated ONNX file',
      async () => {
        const p = join(work, 'truncated.onnx');
        const bytes = await readFile(EXAMPLE_MODEL_BACKBONE);
        await writeFile(p, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
        return p;
      },
      /not an ONNX model or truncated/,
    ],
    [
      'a model with an unknown op',
      async () => {
        const p = join(work, 'unknown-op.onnx');
        const model = await loadOnnxModel(EXAMPLE_MODEL_BACKBONE);
        const nodes = model.graph.node.map((n, i) => (i === 3 ? { ...n, opType: 'NoSuchOp' } : n));
        await writeFile(p, encodeOnnxModel({ ...model.proto, graph: { ...model.graph, node: nodes } }));
        return p;
      },
      /onnxruntime cannot load the model: .*NoSuchOp/,
    ],
  ];

  it.each(cases)('%s', async (_label, makeInput, message) => {
    const input = await makeInput();
    const outName = `out-${Math.random().toString(16).slice(2)}`;
    const res = await runCleave(['partition', input, '--out', join(work, outName), '--runs', '1']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(message);
    const left = (await readdir(work)).filter((f) => f.includes(outName));
    expect(left).toEqual([]);
  });
});
