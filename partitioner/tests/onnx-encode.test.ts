import { equals, toBinary } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
import ort from 'onnxruntime-node';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { specToValueInfo } from '../src/graph/graph-surgery.js';
import { create, decodeModel, encodeModel, OnnxSchema, TensorProto_DataType } from '../src/onnx/onnx-schema.js';

const rawFloats = (values: Float32Array<ArrayBuffer>): Uint8Array<ArrayBuffer> =>
  new Uint8Array(values.buffer.slice(0));

/** x [N, 256] → MatMul by a raw_data weight → Add a float_data bias → y; fields no ONNX version defines on the graph and weight. */
function model() {
  const w = Float32Array.from({ length: 256 * 256 }, (_, i) => Math.sin(i) / 16);
  const proto = create(OnnxSchema.ModelProto, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 17n }],
    producerName: 'encode-test',
    graph: {
      name: 'g',
      node: [
        { name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['h'] },
        { name: 'add', opType: 'Add', input: ['h', 'b'], output: ['y'] },
      ],
      input: [specToValueInfo({ name: 'x', dtype: 'float32', shape: ['N', 256] })],
      output: [specToValueInfo({ name: 'y', dtype: 'float32', shape: ['N', 256] })],
      initializer: [
        {
          name: 'w',
          dataType: TensorProto_DataType.FLOAT,
          dims: [256n, 256n],
          rawData: rawFloats(w),
          metadataProps: [{ key: 'origin', value: 'w-meta' }],
        },
        { name: 'b', dataType: TensorProto_DataType.FLOAT, dims: [256n], floatData: Array(256).fill(0.5) },
      ],
      valueInfo: [specToValueInfo({ name: 'h', dtype: 'float32', shape: ['N', 256] })],
    },
  });
  const future = (text: string) => ({
    no: 4001,
    wireType: WireType.LengthDelimited,
    data: Uint8Array.from([text.length, ...new TextEncoder().encode(text)]),
  });
  proto.graph!.$unknown = [future('graph-future')];
  proto.graph!.initializer[0]!.$unknown = [future('tensor-future')];
  proto.$unknown = [future('model-future')];
  return proto;
}

describe('ONNX encoding with raw_data weights written directly', () => {
  it('decodes to the same model as the generic encoder, unknown fields included, and runs the same', async () => {
    const proto = model();
    const fast = encodeModel(proto);
    const generic = toBinary(ModelProtoSchema, proto, { writeUnknownFields: true });
    expect(fast.length).toBe(generic.length);
    const a = decodeModel(fast);
    const b = decodeModel(generic);
    expect(equals(ModelProtoSchema, a, b)).toBe(true);
    expect(a.$unknown).toEqual(b.$unknown);
    expect(a.graph!.$unknown).toEqual(b.graph!.$unknown);
    expect(a.graph!.initializer[0]!.$unknown).toEqual(b.graph!.initializer[0]!.$unknown);
    expect(a.graph!.initializer.map((t) => t.name)).toEqual(['w', 'b']);
    expect(a.graph!.initializer[0]!.rawData).toEqual(proto.graph!.initializer[0]!.rawData);

    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 512 }, (_, i) => i / 512),
      [2, 256],
    );
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      const out = (await session.run({ x })).y!.data as Float32Array;
      await session.release();
      return out;
    };
    expect(await run(fast)).toEqual(await run(generic));
  });

  it('a model without raw_data weights is encoded by the generic encoder, byte for byte', () => {
    const proto = model();
    proto.graph!.initializer = proto.graph!.initializer.slice(1);
    expect(encodeModel(proto)).toEqual(toBinary(ModelProtoSchema, proto, { writeUnknownFields: true }));
  });
});
