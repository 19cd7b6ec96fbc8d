// Small ONNX models built in TypeScript for the partitioner's tests (no Python needed), and an exactness check.
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { seededRandom } from '@cleave/proto';
import type { Candidate } from '../src/graph/candidates.js';
import { specToValueInfo } from '../src/graph/graph-surgery.js';
import { encodeOnnxModel, parseOnnxModel, type OnnxModel } from '../src/onnx/onnx-model.js';
import {
  AttributeProto_AttributeType,
  create,
  OnnxSchema,
  TensorProto_DataType,
  type onnx,
} from '../src/onnx/onnx-schema.js';

type Attr = number | readonly number[] | string | { readonly floatValue: number };

function attribute(name: string, value: Attr): onnx.AttributeProto {
  if (typeof value === 'string') {
    return create(OnnxSchema.AttributeProto, {
      name,
      type: AttributeProto_AttributeType.STRING,
      s: new TextEncoder().encode(value),
    });
  }
  if (typeof value === 'number') {
    return create(OnnxSchema.AttributeProto, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
  }
  if ('floatValue' in value) {
    return create(OnnxSchema.AttributeProto, { name, type: AttributeProto_AttributeType.FLOAT, f: value.floatValue });
  }
  return create(OnnxSchema.AttributeProto, {
    name,
    type: AttributeProto_AttributeType.INTS,
    ints: value.map(BigInt),
  });
}

/** Builds a graph node by node; tensor names are generated unless given. */
export class GraphBuilder {
  private readonly nodes: onnx.NodeProto[] = [];
  private readonly initializers: onnx.TensorProto[] = [];
  private readonly inputs: onnx.ValueInfoProto[] = [];
  private readonly outputs: onnx.ValueInfoProto[] = [];
  private count = 0;
  private readonly random: () => number;

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  input(name: string, dtype: string, shape: readonly (number | string | null)[]): string {
    this.inputs.push(specToValueInfo({ name, dtype, shape }));
    return name;
  }

  output(name: string, dtype = 'float32', shape: readonly (number | string | null)[] = ['N']): void {
    this.outputs.push(specToValueInfo({ name, dtype, shape }));
  }

  /** A float initializer with the given values. */
  floats(dims: readonly number[], values: readonly number[], name = this.fresh('const')): string {
    this.initializers.push(
      create(OnnxSchema.TensorProto, {
        name,
        dataType: TensorProto_DataType.FLOAT,
        dims: dims.map(BigInt),
        floatData: [...values],
      }),
    );
    return name;
  }

  /** An int64 initializer. */
  ints(dims: readonly number[], values: readonly number[], name = this.fresh('ints')): string {
    this.initializers.push(
      create(OnnxSchema.TensorProto, {
        name,
        dataType: TensorProto_DataType.INT64,
        dims: dims.map(BigInt),
        int64Data: values.map(BigInt),
      }),
    );
    return name;
  }

  /** A pseudo-random weight, uniform in [-scale, scale) plus `offset`. */
  weight(dims: readonly number[], scale: number, offset = 0): string {
    const n = dims.reduce((a, b) => a * b, 1);
    return this.floats(
      dims,
      Array.from({ length: n }, () => (this.random() * 2 - 1) * scale + offset),
      this.fresh('w'),
    );
  }

  /** Adds a node and returns its first output. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, outputs?: readonly string[]): string {
    const name = this.fresh(opType.toLowerCase());
    const outs = outputs ?? [name];
    this.nodes.push(
      create(OnnxSchema.NodeProto, {
        name,
        opType,
        input: [...inputs],
        output: [...outs],
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outs[0]!;
  }

  /** Conv with a random weight (He-like scale) and bias. */
  conv(
    x: string,
    cin: number,
    cout: number,
    k: number,
    opts: { stride?: number; dilation?: number; group?: number } = {},
  ): string {
    const d = opts.dilation ?? 1;
    const pad = Math.floor(k / 2) * d;
    const group = opts.group ?? 1;
    const w = this.weight([cout, cin / group, k, k], Math.sqrt(3 / ((cin / group) * k * k)));
    const b = this.weight([cout], 0.05);
    return this.op('Conv', [x, w, b], {
      kernel_shape: [k, k],
      strides: [opts.stride ?? 1, opts.stride ?? 1],
      dilations: [d, d],
      pads: [pad, pad, pad, pad],
      group,
    });
  }

  build(source = 'synthetic.onnx'): OnnxModel {
    const bytes = encodeOnnxModel(
      create(OnnxSchema.ModelProto, {
        irVersion: 8n,
        opsetImport: [{ domain: '', version: 17n }],
        graph: {
          name: 'g',
          node: this.nodes,
          input: this.inputs,
          output: this.outputs,
          initializer: this.initializers,
        },
      }),
    );
    return parseOnnxModel(bytes, source);
  }

  private fresh(prefix: string): string {
    this.count += 1;
    return `${prefix}_${this.count}`;
  }
}

/**
 * A masked transformer encoder: int64 input_ids [N, 8] and attention_mask [N, 8], token embedding plus a
 * positional table sliced to the sequence length (Shape → Gather → Slice), `blocks` pre-norm-free blocks of
 * two-head attention (shapes from Shape → Concat → Reshape, a 1/sqrt(dim) scale computed from a shape, the
 * additive mask bias every block reads) and a ReLU MLP, then masked mean pooling and a classifier.
 */
export function maskedEncoder(blocks = 4): OnnxModel {
  const g = new GraphBuilder(7);
  const T = 8;
  const D = 16;
  const H = 2;
  const ids = g.input('input_ids', 'int64', ['N', T]);
  const mask = g.input('attention_mask', 'int64', ['N', T]);
  const emb = g.op('Gather', [g.weight([50, D], 1), ids], { axis: 0 });
  const seqLen = g.op('Unsqueeze', [
    g.op('Gather', [g.op('Shape', [ids]), g.ints([], [1])], { axis: 0 }),
    g.ints([1], [0]),
  ]);
  const pos = g.op('Slice', [g.weight([1, 32, D], 0.5), g.ints([1], [0]), seqLen, g.ints([1], [1])]);
  let h = g.op('Add', [emb, pos]);
  const maskFloat = g.op('Cast', [g.op('Unsqueeze', [mask, g.ints([2], [1, 2])])], { to: TensorProto_DataType.FLOAT });
  const bias = g.op('Mul', [g.op('Sub', [g.floats([], [1]), maskFloat]), g.floats([], [-10000])]);
  for (let b = 0; b < blocks; b++) {
    // [N, T] from the block input's shape, as exporters write it.
    const nt = g.op('Slice', [g.op('Shape', [h]), g.ints([1], [0]), g.ints([1], [2]), g.ints([1], [0])]);
    const heads = g.op('Concat', [nt, g.ints([2], [H, D / H])], { axis: 0 });
    const split = (w: string): string =>
      g.op('Transpose', [g.op('Reshape', [g.op('MatMul', [h, w]), heads])], { perm: [0, 2, 1, 3] });
    const q = split(g.weight([D, D], 0.4));
    const k = split(g.weight([D, D], 0.4));
    const v = split(g.weight([D, D], 0.4));
    const dim = g.op('Cast', [g.op('Gather', [g.op('Shape', [q]), g.ints([], [3])], { axis: 0 })], {
      to: TensorProto_DataType.FLOAT,
    });
    const scale = g.op('Div', [g.floats([], [1]), g.op('Sqrt', [dim])]);
    const scores = g.op('Add', [
      g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), scale]),
      bias,
    ]);
    const att = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [
      g.op('Transpose', [att], { perm: [0, 2, 1, 3] }),
      g.op('Concat', [nt, g.ints([1], [D])], { axis: 0 }),
    ]);
    const x1 = g.op(
      'LayerNormalization',
      [
        g.op('Add', [h, g.op('MatMul', [merged, g.weight([D, D], 0.4)])]),
        g.floats([D], Array(D).fill(1)),
        g.floats([D], Array(D).fill(0)),
      ],
      { axis: -1 },
    );
    const ffn = g.op('MatMul', [
      g.op('Relu', [g.op('MatMul', [x1, g.weight([D, 2 * D], 0.4)])]),
      g.weight([2 * D, D], 0.3),
    ]);
    h = g.op(
      'LayerNormalization',
      [g.op('Add', [x1, ffn]), g.floats([D], Array(D).fill(1)), g.floats([D], Array(D).fill(0))],
      { axis: -1 },
    );
  }
  const poolMask = g.op('Cast', [g.op('Unsqueeze', [mask, g.ints([1], [2])])], { to: TensorProto_DataType.FLOAT });
  const num = g.op('ReduceSum', [g.op('Mul', [h, poolMask]), g.ints([1], [1])], { keepdims: 0 });
  const den = g.op('ReduceSum', [poolMask, g.ints([1], [1])], { keepdims: 0 });
  g.op('MatMul', [g.op('Div', [num, den]), g.weight([D, 4], 0.5)], {}, ['logits']);
  g.output('logits', 'float32', ['N', 4]);
  return g.build('masked-encoder.onnx');
}

/** An ESP module: 1×1 reduce, parallel dilated 3×3 convs, hierarchical sums, concat, residual, ReLU. */
function esp(g: GraphBuilder, x: string, cin: number, cout: number): string {
  const n = cout / 5;
  const r = g.conv(x, cin, n, 1);
  const [a1, a2, a4, a8, a16] = [1, 2, 4, 8, 16].map((d) => g.conv(r, n, n, 3, { dilation: d })) as [
    string,
    string,
    string,
    string,
    string,
  ];
  const s4 = g.op('Add', [a2, a4]);
  const s8 = g.op('Add', [s4, a8]);
  const s16 = g.op('Add', [s8, a16]);
  let y = g.op('Concat', [a1, a2, s4, s8, s16], { axis: 1 });
  if (cin === cout) y = g.op('Add', [y, x]);
  return g.op('Relu', [y]);
}

/**
 * An ESPNet-style segmentation net, [N, 3, 32, 32] → [N, 5, 32, 32]: strided conv downsampling with the
 * input re-injected at each scale, stacks of ESP modules, and a decoder that upsamples with ConvTranspose
 * and concatenates skip connections from the encoder.
 */
export function espnetLike(): OnnxModel {
  const g = new GraphBuilder(11);
  const x = g.input('input', 'float32', ['N', 3, 32, 32]);
  const pool = (t: string): string => g.op('AveragePool', [t], { kernel_shape: [2, 2], strides: [2, 2] });
  const cbr = (t: string, cin: number, cout: number, stride: number): string =>
    g.op('Relu', [g.conv(t, cin, cout, 3, { stride })]);
  const i2 = pool(x);
  const i4 = pool(i2);
  const o1 = cbr(x, 3, 8, 2); // 16×16
  const c1 = g.op('Concat', [o1, i2], { axis: 1 }); // 11
  const d2 = cbr(c1, 11, 20, 2); // 8×8
  const o2 = esp(g, esp(g, d2, 20, 20), 20, 20);
  const c2 = g.op('Concat', [o2, d2, i4], { axis: 1 }); // 43
  const d3 = cbr(c2, 43, 40, 2); // 4×4
  const o3 = esp(g, esp(g, esp(g, d3, 40, 40), 40, 40), 40, 40);
  const c3 = g.op('Concat', [o3, d3], { axis: 1 }); // 80
  const up = (t: string, c: number): string =>
    g.op('ConvTranspose', [t, g.weight([c, c, 2, 2], 0.5)], { kernel_shape: [2, 2], strides: [2, 2] });
  const u3 = up(g.conv(c3, 80, 5, 1), 5); // 8×8
  const m2 = g.op('Concat', [u3, g.conv(c2, 43, 5, 1)], { axis: 1 }); // 10
  const e2 = esp(g, m2, 10, 5);
  const u2 = up(e2, 5); // 16×16
  const m1 = g.conv(g.op('Concat', [u2, g.conv(o1, 8, 5, 1)], { axis: 1 }), 10, 5, 1);
  g.op('ConvTranspose', [m1, g.weight([5, 5, 2, 2], 0.5)], { kernel_shape: [2, 2], strides: [2, 2] }, ['mask']);
  g.output('mask', 'float32', ['N', 5, 32, 32]);
  return g.build('espnet-like.onnx');
}

/**
 * The tiny-YOLOv2 pattern: Conv → LeakyReLU (negative values) → zero Pad on the bottom/right → stride-1
 * 2×2 MaxPool → 1×1 Conv. onnxruntime fuses the Pad into the MaxPool, which then pads with -inf, not 0.
 */
export function padMaxPool(): OnnxModel {
  const g = new GraphBuilder(3);
  const x = g.input('input', 'float32', ['N', 3, 8, 8]);
  const w = g.weight([4, 3, 3, 3], 0.3);
  const conv = g.op('Conv', [x, w, g.floats([4], [-1, -0.8, -1.2, -0.5])], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
  });
  const leaky = g.op('LeakyRelu', [conv], { alpha: { floatValue: 0.1 } });
  const padded = g.op('Pad', [leaky, g.ints([8], [0, 0, 0, 0, 0, 0, 1, 1])], { mode: 'constant' });
  const pooled = g.op('MaxPool', [padded], { kernel_shape: [2, 2], strides: [1, 1] });
  g.op('Conv', [pooled, g.weight([2, 4, 1, 1], 0.5)], { kernel_shape: [1, 1] }, ['out']);
  g.output('out', 'float32', ['N', 2, 8, 8]);
  return g.build('pad-maxpool.onnx');
}

/** Deterministic inputs with a batch of 2: floats in [0, 1), ids cycling 1..7, a mask with padding in row 1. */
export function feedsFor(model: OnnxModel): Record<string, ort.Tensor> {
  return Object.fromEntries(
    model.inputs.map((spec): [string, ort.Tensor] => {
      const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 2));
      const n = dims.reduce((a, b) => a * b, 1);
      if (spec.dtype === 'int64') {
        const row = dims[dims.length - 1]!;
        const values = Array.from({ length: n }, (_, i) =>
          spec.name.includes('mask') ? (i >= row && i % row >= row - 3 ? 0 : 1) : 1 + (i % 7),
        );
        return [spec.name, new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims)];
      }
      const data = Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2);
      return [spec.name, new ort.Tensor('float32', data, dims)];
    }),
  );
}

/** Largest max |a - b| / max |a| over the named outputs. */
export function relativeError(
  ref: ort.InferenceSession.ReturnType,
  got: ort.InferenceSession.ReturnType,
  names: readonly string[],
): number {
  let worst = 0;
  for (const name of names) {
    const a = ref[name]!.data as Float32Array;
    const b = got[name]!.data as Float32Array;
    expect(got[name]!.dims).toEqual(ref[name]!.dims);
    let diff = 0;
    let scale = 1e-12;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

/** Runs every split head → tail and expects the full model's outputs within 1e-4 relative. */
export async function expectExact(model: OnnxModel, candidates: readonly Candidate[]): Promise<void> {
  const feeds = feedsFor(model);
  const outputs = model.outputs.map((o) => o.name);
  const full = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: 1 });
  const ref = await full.run(feeds);
  await full.release();
  for (const c of candidates.filter((x) => x.kind === 'split')) {
    const head = await ort.InferenceSession.create(c.head!(), { intraOpNumThreads: 1 });
    const tail = await ort.InferenceSession.create(c.tail!(), { intraOpNumThreads: 1 });
    const mid = await head.run(feeds);
    const got = await tail.run(Object.fromEntries(c.wire.map((w) => [w.name, mid[w.name]!])));
    await head.release();
    await tail.release();
    const err = relativeError(ref, got, outputs);
    expect(err, `${c.id} [${c.wire.map((w) => w.name).join(', ')}]`).toBeLessThanOrEqual(1e-4);
  }
}
