import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  constantsToInitializers,
  externalizeModel,
  MIN_EXTERNAL_BYTES,
  shareWeights,
  tensorRawBytes,
  WEIGHTS_ALIGNMENT,
  WEIGHTS_FILE,
  WeightsFile,
} from '../src/bundle/shared-weights.js';
import { encodeOnnxModel } from '../src/onnx/onnx-model.js';
import {
  AttributeProto_AttributeType,
  create,
  decodeModel,
  OnnxSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
  type onnx,
} from '../src/onnx/onnx-schema.js';
import { specToValueInfo } from '../src/graph/graph-surgery.js';

const tensor = (init: MessageInitShape<typeof OnnxSchema.TensorProto>): onnx.TensorProto =>
  create(OnnxSchema.TensorProto, init);

const bytesOf = (...values: number[]): Uint8Array<ArrayBuffer> => new Uint8Array(values);

describe('tensorRawBytes: the little-endian bytes of any tensor', () => {
  it('reads every typed field as the raw_data it stands for', () => {
    const f32 = new Uint8Array(Float32Array.from([1.5, -2]).buffer);
    expect(tensorRawBytes(tensor({ dataType: DT.FLOAT, dims: [2n], floatData: [1.5, -2] }))).toEqual(f32);
    expect(tensorRawBytes(tensor({ dataType: DT.INT64, dims: [2n], int64Data: [1n, -2n] }))).toEqual(
      new Uint8Array(BigInt64Array.from([1n, -2n]).buffer),
    );
    expect(tensorRawBytes(tensor({ dataType: DT.INT32, dims: [2n], int32Data: [7, -1] }))).toEqual(
      bytesOf(7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff),
    );
    // float16 1.0 and -2.0, bit-wise in int32_data.
    expect(tensorRawBytes(tensor({ dataType: DT.FLOAT16, dims: [2n], int32Data: [0x3c00, 0xc000] }))).toEqual(
      bytesOf(0x00, 0x3c, 0x00, 0xc0),
    );
    expect(tensorRawBytes(tensor({ dataType: DT.UINT8, dims: [3n], int32Data: [0, 128, 255] }))).toEqual(
      bytesOf(0, 128, 255),
    );
    expect(tensorRawBytes(tensor({ dataType: DT.BOOL, dims: [2n], int32Data: [1, 0] }))).toEqual(bytesOf(1, 0));
    expect(tensorRawBytes(tensor({ dataType: DT.DOUBLE, dims: [1n], doubleData: [0.25] }))).toEqual(
      new Uint8Array(Float64Array.from([0.25]).buffer),
    );
    expect(tensorRawBytes(tensor({ dataType: DT.UINT64, dims: [1n], uint64Data: [2n ** 63n] }))).toEqual(
      bytesOf(0, 0, 0, 0, 0, 0, 0, 0x80),
    );
  });

  it('passes raw_data through and refuses what cannot be stored externally', () => {
    const raw = bytesOf(1, 2, 3, 4);
    expect(tensorRawBytes(tensor({ dataType: DT.FLOAT, dims: [1n], rawData: raw }))).toBe(raw);
    expect(tensorRawBytes(tensor({ dataType: DT.STRING, dims: [1n], stringData: [bytesOf(65)] }))).toBeUndefined();
    expect(tensorRawBytes(tensor({ dataType: DT.FLOAT, dims: [3n], floatData: [1, 2] }))).toBeUndefined();
    expect(tensorRawBytes(tensor({ dataType: DT.INT4, dims: [2n], int32Data: [0x21] }))).toBeUndefined();
  });
});

describe('WeightsFile: each blob once, aligned', () => {
  it('deduplicates by content, aligns offsets and keeps its own copy', () => {
    const file = new WeightsFile();
    const a = new Uint8Array(100).fill(1);
    const b = new Uint8Array(10).fill(2);
    expect(file.add(a)).toEqual({ offset: 0, length: 100 });
    expect(file.add(b)).toEqual({ offset: 128, length: 10 });
    expect(file.add(new Uint8Array(100).fill(1))).toEqual({ offset: 0, length: 100 });
    expect(file.tensors).toBe(2);
    a.fill(9);
    const out = file.bytes();
    expect(out.length).toBe(138);
    expect(out.subarray(0, 100).every((x) => x === 1)).toBe(true);
    expect(out.subarray(100, 128).every((x) => x === 0)).toBe(true);
    expect(out.subarray(128).every((x) => x === 2)).toBe(true);
    expect(128 % WEIGHTS_ALIGNMENT).toBe(0);
  });
});

const N = 300; // floats per weight: 1200 bytes, above MIN_EXTERNAL_BYTES
const values = (seed: number): number[] => Array.from({ length: N }, (_, i) => Math.sin(i * 0.37 + seed));

function constant(output: string, value: onnx.TensorProto): onnx.NodeProto {
  return create(OnnxSchema.NodeProto, {
    name: `const_${output}`,
    opType: 'Constant',
    output: [output],
    attribute: [{ name: 'value', type: AttributeProto_AttributeType.TENSOR, t: value }],
  });
}

/**
 * y = Reshape(((x + w) − w_copy + w) * c, [-1, 30, 10]) and z = the big constant k as a graph output: a typed-field
 * initializer, an identical one under another name, a large Constant (float_data), a small Constant and a small
 * int64 shape, which must stay inline.
 */
function fixture(): onnx.ModelProto {
  const weight = (name: string): onnx.TensorProto =>
    tensor({ name, dataType: DT.FLOAT, dims: [BigInt(N)], floatData: values(1) });
  const node = (opType: string, input: string[], output: string): onnx.NodeProto =>
    create(OnnxSchema.NodeProto, { name: output, opType, input, output: [output] });
  return create(OnnxSchema.ModelProto, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 17n }],
    graph: {
      name: 'g',
      node: [
        node('Add', ['x', 'w'], 'a'),
        constant('c', tensor({ dataType: DT.FLOAT, dims: [BigInt(N)], floatData: values(2) })),
        node('Sub', ['a', 'w_copy'], 'b'),
        constant('one', tensor({ dataType: DT.FLOAT, dims: [], floatData: [1] })),
        node('Mul', ['b', 'c'], 'm'),
        node('Mul', ['m', 'one'], 'm1'),
        node('Add', ['m1', 'w'], 'm2'),
        node('Reshape', ['m2', 'shape'], 'y'),
        constant('z', tensor({ dataType: DT.FLOAT, dims: [BigInt(N)], floatData: values(3) })),
      ],
      input: [specToValueInfo({ name: 'x', dtype: 'float32', shape: ['N', N] })],
      output: [
        specToValueInfo({ name: 'y', dtype: 'float32', shape: ['N', 30, 10] }),
        specToValueInfo({ name: 'z', dtype: 'float32', shape: [N] }),
      ],
      initializer: [
        weight('w'),
        weight('w_copy'),
        tensor({ name: 'shape', dataType: DT.INT64, dims: [3n], int64Data: [-1n, 30n, 10n] }),
      ],
    },
  });
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function run(model: string | Uint8Array): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model as string, { intraOpNumThreads: 1 });
  try {
    const x = Float32Array.from({ length: 2 * N }, (_, i) => Math.cos(i));
    const out = await session.run({ x: new ort.Tensor('float32', x, [2, N]) });
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

describe('externalizeModel: weights to the shared file, same answers', () => {
  it('turns large Constants into initializers in node order, keeping small ones and graph outputs as nodes', () => {
    const lifted = constantsToInitializers(fixture());
    const graph = lifted.graph!;
    expect(graph.node.map((n) => n.name)).toEqual(['a', 'b', 'const_one', 'm', 'm1', 'm2', 'y', 'const_z']);
    expect(graph.initializer.map((t) => t.name)).toEqual(['w', 'w_copy', 'shape', 'c']);
    expect(fixture().graph!.node.length).toBe(9); // the input model is not changed
  });

  it('stores each distinct weight once, keeps small tensors inline, and onnxruntime gives identical outputs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cleave-shared-weights-'));
    dirs.push(dir);
    const embedded = encodeOnnxModel(fixture());
    const weights = new WeightsFile();
    const external = externalizeModel(decodeModel(embedded), weights);
    const byName = new Map(external.graph!.initializer.map((t) => [t.name, t]));
    for (const name of ['w', 'w_copy', 'c']) {
      const t = byName.get(name)!;
      expect(t.dataLocation, name).toBe(TensorProto_DataLocation.EXTERNAL);
      expect(t.rawData.length + t.floatData.length, name).toBe(0);
      expect(t.externalData.map((e) => e.key)).toEqual(['location', 'offset', 'length']);
      expect(t.externalData[0]!.value).toBe(WEIGHTS_FILE);
      expect(Number(t.externalData[1]!.value) % WEIGHTS_ALIGNMENT).toBe(0);
      expect(t.externalData[2]!.value).toBe(String(4 * N));
    }
    expect(byName.get('w')!.externalData).toEqual(byName.get('w_copy')!.externalData);
    expect(byName.get('shape')!.dataLocation).toBe(TensorProto_DataLocation.DEFAULT);
    expect(weights.tensors).toBe(2);
    expect(4 * N).toBeGreaterThanOrEqual(MIN_EXTERNAL_BYTES);

    await writeFile(join(dir, 'model.onnx'), encodeOnnxModel(external));
    await writeFile(join(dir, WEIGHTS_FILE), weights.bytes());
    const reference = await run(embedded);
    const got = await run(join(dir, 'model.onnx'));
    expect(Object.keys(got).sort()).toEqual(['y', 'z']);
    expect(got.y).toEqual(reference.y);
    expect(got.z).toEqual(reference.z);
  });

  it('shareWeights: graphs produced in order, the weights file last, deterministic', () => {
    const bytes = encodeOnnxModel(fixture());
    const build = (): Uint8Array[] => {
      const shared = shareWeights(
        new Map([
          ['model.onnx', () => bytes],
          ['split-01.head.onnx', () => bytes],
        ]),
      );
      expect([...shared.files.keys()]).toEqual(['model.onnx', 'split-01.head.onnx', WEIGHTS_FILE]);
      const files = [...shared.files.values()];
      expect(() => files[2]!()).toThrow(/before its graphs model.onnx, split-01.head.onnx/);
      const out = files.map((produce) => produce());
      // w (and its copy) and c, each once across both graphs; z stays a Constant node (a graph output).
      expect(shared.weights.tensors).toBe(2);
      expect(out[2]!.length).toBe(64 * Math.ceil((4 * N) / 64) + 4 * N);
      return out;
    };
    const [first, second] = [build(), build()];
    expect(second).toEqual(first);
    expect(() => shareWeights(new Map([['candidates/a.onnx', () => bytes]]))).toThrow(/beside/);
  });
});
