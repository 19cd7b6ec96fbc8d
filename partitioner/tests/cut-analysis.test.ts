import { describe, expect, it } from 'vitest';
import { findCuts } from '../src/graph/cut-analysis.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { splitAtCut } from '../src/graph/graph-surgery.js';
import type { ProbedTensor } from '../src/graph/shape-probe.js';
import { encodeOnnxModel, parseOnnxModel } from '../src/onnx/onnx-model.js';
import { specToValueInfo } from '../src/graph/graph-surgery.js';
import { create, OnnxSchema } from '../src/onnx/onnx-schema.js';

type NodeSpec = [op: string, inputs: string[], outputs: string[]];

/** A float model [N, 4] → [N, 4] built from node specs; `w` is a weight initializer, `shape0` a constant. */
function model(nodes: NodeSpec[], outputs = ['out']) {
  const vi = (name: string) => specToValueInfo({ name, dtype: 'float32', shape: ['N', 4] });
  const bytes = encodeOnnxModel(
    create(OnnxSchema.ModelProto, {
      irVersion: 8n,
      opsetImport: [{ domain: '', version: 17n }],
      graph: {
        name: 'g',
        node: nodes.map(([opType, input, output], i) => ({ name: `n${i}`, opType, input, output })),
        input: [vi('x')],
        output: outputs.map(vi),
        initializer: [{ name: 'w', dataType: 1, dims: [4n], floatData: [1, 2, 3, 4] }],
      },
    }),
  );
  return indexGraph(parseOnnxModel(bytes, 'synthetic.onnx'));
}

/** Every data tensor costs 100 bytes unless overridden. */
function bytesFor(index: ReturnType<typeof model>, overrides: Record<string, number> = {}) {
  const m = new Map<string, number>();
  for (const [name, kind] of index.kind) if (kind === 'data') m.set(name, overrides[name] ?? 100);
  return m;
}

describe('cut analysis', () => {
  it('a chain: every intermediate tensor is a single-tensor cut, in order', () => {
    const g = model([
      ['Relu', ['x'], ['a']],
      ['Mul', ['a', 'w'], ['b']],
      ['Relu', ['b'], ['out']],
    ]);
    const cuts = findCuts(g, { tensorBytes: bytesFor(g) });
    expect(cuts.map((c) => c.tensors)).toEqual([['a'], ['b']]);
    expect(cuts.every((c) => c.origin === 'dominator')).toBe(true);
  });

  it('weights and constants never appear in a cut', () => {
    const g = model([
      ['Constant', [], ['k']],
      ['Add', ['x', 'k'], ['a']],
      ['Mul', ['a', 'w'], ['out']],
    ]);
    expect(g.kind.get('k')).toBe('static');
    expect(g.kind.get('w')).toBe('static');
    expect(findCuts(g, { tensorBytes: bytesFor(g) }).flatMap((c) => c.tensors)).toEqual(['a']);
  });

  it('parallel branches (inception-like): min s–t cut finds the cheapest multi-tensor cut', () => {
    const g = model([
      ['Relu', ['x'], ['a']],
      ['Relu', ['a'], ['b1']],
      ['Sigmoid', ['b1'], ['b2']],
      ['Tanh', ['a'], ['c1']],
      ['Abs', ['c1'], ['c2']],
      ['Concat', ['b2', 'c2'], ['d']],
      ['Relu', ['d'], ['out']],
    ]);
    const cuts = findCuts(g, { tensorBytes: bytesFor(g, { b1: 500, c2: 50, b2: 60, c1: 70 }) });
    expect(cuts.filter((c) => c.origin === 'dominator').map((c) => c.tensors)).toEqual([['a'], ['d']]);
    const multi = cuts.filter((c) => c.origin === 'min-cut');
    expect(multi).toHaveLength(1);
    expect([...multi[0]!.tensors].sort()).toEqual(['b2', 'c2']);
    expect(multi[0]!.bytes).toBe(110);
  });

  it('a residual block with an identity skip has no interior cut without the skip tensor', () => {
    const g = model([
      ['Relu', ['x'], ['a']],
      ['Mul', ['a', 'w'], ['b']],
      ['Relu', ['b'], ['c']],
      ['Add', ['a', 'c'], ['out']],
    ]);
    const cuts = findCuts(g, { tensorBytes: bytesFor(g) });
    expect(cuts.map((c) => c.tensors)).toEqual([['a']]);
  });

  it('shape-only subgraphs (Shape → Reshape) do not block cuts, and the tail gets the shape if it cannot recompute it', () => {
    const g = model([
      ['Relu', ['x'], ['a']],
      ['Shape', ['a'], ['s']],
      ['Relu', ['a'], ['b']],
      ['Reshape', ['b', 's'], ['out']],
    ]);
    expect(g.kind.get('s')).toBe('shape');
    const cuts = findCuts(g, { tensorBytes: bytesFor(g) });
    expect(cuts.map((c) => c.tensors)).toEqual([['a'], ['b']]);
    const probed = new Map<string, ProbedTensor>(
      ['a', 'b', 's'].map((name) => [
        name,
        {
          spec: { name, dtype: name === 's' ? 'int64' : 'float32', shape: name === 's' ? [2] : ['batch', 4] },
          bytesPerSample: name === 's' ? 16 : 16,
          elementsPerSample: name === 's' ? 2 : 4,
          batched: name !== 's',
        },
      ]),
    );
    // Cut at 'a': the tail recomputes Shape(a) itself, nothing extra is sent.
    expect(splitAtCut(g, probed, ['a']).wire.map((w) => w.name)).toEqual(['a']);
    // Cut at 'b': 'a' stayed on the edge, so its shape travels with the cut.
    expect(splitAtCut(g, probed, ['b']).wire.map((w) => w.name)).toEqual(['b', 's']);
  });

  it('rejects a tensor set that does not separate inputs from outputs', () => {
    const g = model([
      ['Relu', ['x'], ['a']],
      ['Relu', ['x'], ['b']],
      ['Add', ['a', 'b'], ['out']],
    ]);
    const probed = new Map<string, ProbedTensor>([
      [
        'a',
        {
          spec: { name: 'a', dtype: 'float32', shape: ['batch', 4] },
          bytesPerSample: 16,
          elementsPerSample: 4,
          batched: true,
        },
      ],
    ]);
    expect(() => splitAtCut(g, probed, ['a'])).toThrow(/\[a\] is not a cut: the tail would need 'b'/);
  });
});

describe('model validation (expected failures)', () => {
  it('rejects bytes that are not ONNX', () => {
    expect(() => parseOnnxModel(new TextEncoder().encode('hello world, not a model'), 'x.onnx')).toThrow(
      /x\.onnx: not an ONNX model/,
    );
  });

  it('rejects a dangling tensor reference, naming node and tensor', () => {
    expect(() => model([['Add', ['x', 'ghost'], ['out']]])).toThrow(/node 'n0' \(Add\) reads tensor 'ghost'/);
  });

  it('rejects a model whose output nobody produces', () => {
    expect(() => model([['Relu', ['x'], ['a']]])).toThrow(/graph output 'out' is not produced/);
  });
});
