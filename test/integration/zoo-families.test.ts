import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadOnnxModel, type OnnxModel } from '@cleave/partitioner';
import { ensureFamilyModel } from '../harness/mod.js';

// Exporting imports torch (~2 s) and traces the model; several suites may export at once on 2 cores.
const EXPORT_TIMEOUT = 180_000;
const SEQ = 64;

interface IoSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int64';
  /** Dims after the batch. */
  readonly dims: readonly number[];
}

const FAMILIES: Record<string, { inputs: IoSpec[]; outputs: IoSpec[] }> = {
  tiny_yolov2: {
    inputs: [{ name: 'images', dtype: 'float32', dims: [3, 160, 160] }],
    outputs: [{ name: 'grid', dtype: 'float32', dims: [125, 5, 5] }],
  },
  espnet_seg: {
    inputs: [{ name: 'image', dtype: 'float32', dims: [3, 128, 256] }],
    outputs: [{ name: 'seg_logits', dtype: 'float32', dims: [19, 128, 256] }],
  },
  posenet: {
    inputs: [{ name: 'image', dtype: 'float32', dims: [3, 193, 257] }],
    outputs: [
      { name: 'heatmaps', dtype: 'float32', dims: [17, 13, 17] },
      { name: 'offsets', dtype: 'float32', dims: [34, 13, 17] },
      { name: 'displacement_fwd', dtype: 'float32', dims: [32, 13, 17] },
      { name: 'displacement_bwd', dtype: 'float32', dims: [32, 13, 17] },
    ],
  },
  ds_cnn_kws: {
    inputs: [{ name: 'mfcc', dtype: 'float32', dims: [1, 49, 10] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: [12] }],
  },
  text_encoder: {
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: [SEQ] },
      { name: 'attention_mask', dtype: 'int64', dims: [SEQ] },
    ],
    outputs: [
      { name: 'logits', dtype: 'float32', dims: [4] },
      { name: 'hidden', dtype: 'float32', dims: [SEQ, 192] },
    ],
  },
  binarized_net: {
    inputs: [{ name: 'image', dtype: 'float32', dims: [1, 28, 28] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: [10] }],
  },
};

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** One deterministic sample per input; `seed` varies it. Token ids in [0, 1000), the last `pad` tokens masked. */
function sample(spec: IoSpec, seed: number, pad = 16): Float32Array | BigInt64Array {
  const n = size(spec.dims);
  if (spec.name === 'attention_mask') return BigInt64Array.from({ length: n }, (_, i) => (i < n - pad ? 1n : 0n));
  if (spec.dtype === 'int64') {
    return BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 37 + seed * 101 + 7) % 1000));
  }
  return Float32Array.from({ length: n }, (_, i) => (Math.sin((i + seed * 7919) * 12.9898) + 1) / 2);
}

/** A batch of the given samples, one per input, stacked along N. */
function batch(inputs: readonly IoSpec[], samples: readonly Record<string, Float32Array | BigInt64Array>[]) {
  return Object.fromEntries(
    inputs.map((spec) => {
      const dims = [samples.length, ...spec.dims];
      const parts = samples.map((s) => s[spec.name]!);
      const tensor =
        spec.dtype === 'int64'
          ? new ort.Tensor('int64', BigInt64Array.from(parts.flatMap((p) => Array.from(p as BigInt64Array))), dims)
          : new ort.Tensor('float32', Float32Array.from(parts.flatMap((p) => Array.from(p as Float32Array))), dims);
      return [spec.name, tensor];
    }),
  );
}

function samplesFor(inputs: readonly IoSpec[], seed: number): Record<string, Float32Array | BigInt64Array> {
  return Object.fromEntries(inputs.map((spec) => [spec.name, sample(spec, seed)]));
}

/** Largest |a - b| relative to the largest |a|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return diff / scale;
}

/** The numbers held by an initializer (raw_data or the typed repeated fields). */
function initializerValues(model: OnnxModel, name: string): number[] {
  const t = model.graph.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  if (t.rawData.length > 0) {
    const bytes = new Uint8Array(t.rawData); // a copy: aligned, and not a view into a Buffer pool
    if (t.dataType === 7) return Array.from(new BigInt64Array(bytes.buffer), Number);
    if (t.dataType === 1) return Array.from(new Float32Array(bytes.buffer));
    throw new Error(`initializer '${name}': unexpected data type ${t.dataType}`);
  }
  return t.dataType === 7 ? t.int64Data.map(Number) : t.floatData;
}

function intsAttribute(node: OnnxModel['graph']['node'][number], name: string): number[] | undefined {
  return node.attribute.find((a) => a.name === name)?.ints.map(Number);
}

describe('product-brief model families (export_families.py, random seeded weights)', () => {
  it.each(Object.keys(FAMILIES))(
    '%s exports and runs in onnxruntime-node at batch 1 and 2 with the declared I/O',
    async (name) => {
      const { inputs, outputs } = FAMILIES[name]!;
      const path = await ensureFamilyModel(name);
      const model = await loadOnnxModel(path);
      expect(model.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual(
        inputs.map((i) => [i.name, i.dtype, ['N', ...i.dims]]),
      );
      expect(model.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual(
        outputs.map((o) => [o.name, o.dtype, ['N', ...o.dims]]),
      );
      expect(model.proto.opsetImport.find((o) => o.domain === '')?.version).toBe(17n);

      const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
      expect(session.inputNames).toEqual(inputs.map((i) => i.name));
      expect(session.outputNames).toEqual(outputs.map((o) => o.name));
      const a = samplesFor(inputs, 1);
      const b = samplesFor(inputs, 2);
      const one = await session.run(batch(inputs, [a]));
      const two = await session.run(batch(inputs, [b, a]));
      for (const [n, result] of [
        [1, one],
        [2, two],
      ] as const) {
        for (const spec of outputs) {
          const t = result[spec.name]!;
          expect(t.type, spec.name).toBe(spec.dtype);
          expect(t.dims, spec.name).toEqual([n, ...spec.dims]);
          const data = t.data as Float32Array;
          expect(data.every(Number.isFinite), `${spec.name} finite`).toBe(true);
          // Well-scaled random weights: not collapsed to a constant.
          let [lo, hi] = [Infinity, -Infinity];
          for (const v of data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
          expect(hi - lo, `${spec.name} spread`).toBeGreaterThan(1e-3);
        }
      }
      // The second sample of the batch of 2 is the batch-1 sample: the dynamic batch is really per-sample.
      for (const spec of outputs) {
        const per = size(spec.dims);
        const batched = (two[spec.name]!.data as Float32Array).subarray(per, 2 * per);
        expect(relativeError(one[spec.name]!.data as Float32Array, batched), spec.name).toBeLessThan(1e-5);
      }
      await session.release();
    },
    EXPORT_TIMEOUT,
  );

  it(
    'tiny_yolov2 ends with a zero Pad feeding a stride-1 MaxPool, which onnxruntime fuses (numbers change)',
    async () => {
      const path = await ensureFamilyModel('tiny_yolov2');
      const model = await loadOnnxModel(path);
      const pads = model.graph.node.filter((n) => n.opType === 'Pad');
      expect(pads).toHaveLength(1);
      const pad = pads[0]!;
      const mode = pad.attribute.find((a) => a.name === 'mode')?.s;
      expect(mode === undefined || new TextDecoder().decode(mode) === 'constant').toBe(true);
      // Right and bottom by one: NCHW begins then ends.
      expect(initializerValues(model, pad.input[1]!)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
      if (pad.input[2]) expect(initializerValues(model, pad.input[2])).toEqual([0]);
      const consumers = model.graph.node.filter((n) => n.input.includes(pad.output[0]!));
      expect(consumers.map((n) => n.opType)).toEqual(['MaxPool']);
      expect(intsAttribute(consumers[0]!, 'strides')).toEqual([1, 1]);
      expect(intsAttribute(consumers[0]!, 'kernel_shape')).toEqual([2, 2]);

      // Leaky-ReLU output is negative in places, so padding with 0 (Pad) and with -inf (MaxPool's
      // own pads, after the fusion) disagree at the right and bottom edge.
      const inputs = FAMILIES['tiny_yolov2']!.inputs;
      const feeds = batch(inputs, [samplesFor(inputs, 1), samplesFor(inputs, 2)]);
      const results: Float32Array[] = [];
      for (const graphOptimizationLevel of ['disabled', 'all'] as const) {
        const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, graphOptimizationLevel });
        results.push((await session.run(feeds))['grid']!.data as Float32Array);
        await session.release();
      }
      expect(relativeError(results[0]!, results[1]!)).toBeGreaterThan(1e-3);
    },
    EXPORT_TIMEOUT,
  );

  it(
    'text_encoder slices its position table to the sequence length and turns the mask into an attention bias',
    async () => {
      const path = await ensureFamilyModel('text_encoder');
      const model = await loadOnnxModel(path);
      const producer = new Map(model.graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
      const pos = model.graph.initializer.find((t) => t.dims.map(Number).join() === '1,512,192');
      expect(pos).toBeDefined();
      const slice = model.graph.node.find((n) => n.opType === 'Slice' && n.input[0] === pos!.name);
      expect(slice).toBeDefined();
      // Its `ends` come from Shape(input_ids), not a constant.
      const upstream = (name: string, seen = new Set<string>()): Set<string> => {
        const node = producer.get(name);
        if (!node || seen.has(node.name)) return seen;
        seen.add(node.name);
        for (const i of node.input) upstream(i, seen);
        return seen;
      };
      const endsFrom = [...upstream(slice!.input[2]!)].map((n) => model.graph.node.find((x) => x.name === n)!);
      expect(endsFrom.some((n) => n.opType === 'Shape' && n.input[0] === 'input_ids')).toBe(true);
      const maskUsers = model.graph.node.filter((n) => n.input.includes('attention_mask')).map((n) => n.opType);
      expect(maskUsers).toEqual(['Cast']);
      const ops = new Set(model.graph.node.map((n) => n.opType));
      for (const op of ['Sub', 'Mul', 'Unsqueeze', 'Softmax', 'LayerNormalization', 'Gather'])
        expect(ops).toContain(op);

      // Masked tokens do not influence the logits or the unmasked hidden states.
      const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
      const inputs = FAMILIES['text_encoder']!.inputs;
      const a = samplesFor(inputs, 1);
      const ids = (a['input_ids'] as BigInt64Array).slice();
      for (let i = SEQ - 16; i < SEQ; i++) ids[i] = 999n - ids[i]!;
      const [x, y] = [
        await session.run(batch(inputs, [a])),
        await session.run(batch(inputs, [{ ...a, input_ids: ids }])),
      ];
      expect(relativeError(x['logits']!.data as Float32Array, y['logits']!.data as Float32Array)).toBeLessThan(1e-5);
      const kept = (SEQ - 16) * 192;
      const hx = (x['hidden']!.data as Float32Array).subarray(0, kept);
      const hy = (y['hidden']!.data as Float32Array).subarray(0, kept);
      expect(relativeError(hx, hy)).toBeLessThan(1e-5);
      await session.release();
    },
    EXPORT_TIMEOUT,
  );

  it(
    'binarized_net binarizes activations and weights with Sign; posenet feeds four heads from one feature map',
    async () => {
      const bnn = await loadOnnxModel(await ensureFamilyModel('binarized_net'));
      const signs = bnn.graph.node.filter((n) => n.opType === 'Sign');
      const onWeights = signs.filter((n) => bnn.initializerNames.has(n.input[0]!));
      expect(onWeights.length).toBeGreaterThanOrEqual(4);
      expect(signs.length - onWeights.length).toBeGreaterThanOrEqual(4);

      const pose = await loadOnnxModel(await ensureFamilyModel('posenet'));
      const producer = new Map(pose.graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
      const heads = pose.outputs.map((o) => producer.get(o.name)!);
      expect(heads.map((n) => n.opType)).toEqual(['Conv', 'Conv', 'Conv', 'Conv']);
      expect(new Set(heads.map((n) => n.input[0])).size).toBe(1);
    },
    EXPORT_TIMEOUT,
  );

  it(
    'rejects an unknown family with a clear error',
    async () => {
      await expect(ensureFamilyModel('not_a_family')).rejects.toThrow(/not_a_family/);
    },
    EXPORT_TIMEOUT,
  );
});
