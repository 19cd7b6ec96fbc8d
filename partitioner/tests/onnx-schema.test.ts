import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { indexGraph } from '../src/graph/graph-index.js';
import { specToValueInfo, splitAtCut } from '../src/graph/graph-surgery.js';
import { probeTensorShapes } from '../src/graph/shape-probe.js';
import { encodeOnnxModel, parseOnnxModel } from '../src/onnx/onnx-model.js';
import { create, OnnxSchema, type onnx } from '../src/onnx/onnx-schema.js';

// Raw protobuf writing, so the fields under test are put on the wire without the schema's help.
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Uint8Array.from(bytes);
}
/** A length-delimited field (wire type 2). */
const field = (no: number, payload: Uint8Array | string): Uint8Array => {
  const body = typeof payload === 'string' ? utf8(payload) : payload;
  return concat(varint((no << 3) | 2), varint(body.length), body);
};
/** A varint field (wire type 0). */
const varintField = (no: number, value: number): Uint8Array => concat(varint(no << 3), varint(value));
/** A StringStringEntryProto, the element of every metadata_props. */
const entry = (key: string, value: string): Uint8Array => concat(field(1, key), field(2, value));

/** Field numbers no ONNX version defines (as a model from a newer ONNX would carry). */
const FUTURE = { model: 4001, graph: 4002, node: 4003, nodeCount: 4004 } as const;
// Fields ONNX added after 1.10, which the old schema dropped: NodeProto.metadata_props = 9.
const NODE_METADATA_PROPS = 9;

/** A NodeProto written by hand: input 1, output 2, name 3, op_type 4, then the newer fields. */
function rawNode(name: string, op: string, inputs: string[], output: string): Uint8Array {
  return concat(
    ...inputs.map((i) => field(1, i)),
    field(2, output),
    field(3, name),
    field(4, op),
    field(NODE_METADATA_PROPS, entry('origin', `${name}-meta`)),
    field(FUTURE.node, `${name}-future`),
    varintField(FUTURE.nodeCount, 300),
  );
}

/**
 * x [N, 4] → Relu (n0) → a → Mul by w (n1) → y. The graph and the weight carry metadata_props (newer
 * than ONNX 1.10) set through the schema; the model, graph and nodes carry raw fields no ONNX version knows.
 * Appending a serialised message to another merges them, so the extra graph bytes below add the
 * nodes and a raw field to the graph the schema wrote.
 */
function modelWithNewerFields(): Uint8Array {
  const base = encodeOnnxModel(
    create(OnnxSchema.ModelProto, {
      irVersion: 10n,
      opsetImport: [{ domain: '', version: 21n }],
      graph: {
        name: 'g',
        input: [specToValueInfo({ name: 'x', dtype: 'float32', shape: ['N', 4] })],
        output: [specToValueInfo({ name: 'y', dtype: 'float32', shape: ['N', 4] })],
        initializer: [
          {
            name: 'w',
            dataType: 1,
            dims: [4n],
            floatData: [1, 2, 3, 4],
            metadataProps: [{ key: 'origin', value: 'w-meta' }],
          },
        ],
        metadataProps: [{ key: 'origin', value: 'graph-meta' }],
      },
    }),
  );
  const graphExtra = concat(
    field(1, rawNode('n0', 'Relu', ['x'], 'a')),
    field(1, rawNode('n1', 'Mul', ['a', 'w'], 'y')),
    field(FUTURE.graph, 'graph-future'),
  );
  return concat(base, field(7, graphExtra), field(FUTURE.model, 'model-future'));
}

/** Whether `needle` occurs in `bytes`: checks the wire itself, independently of any decoder. */
function containsBytes(bytes: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The text of the length-delimited unknown fields numbered `no`; their data still starts with the length. */
function unknownText(message: { $unknown?: { no: number; data: Uint8Array }[] }, no: number): string[] {
  return (message.$unknown ?? [])
    .filter((u) => u.no === no)
    .map((u) => {
      let at = 0;
      while ((u.data[at] ?? 0) & 0x80) at++;
      return new TextDecoder().decode(u.data.subarray(at + 1));
    });
}

const metadata = (props: readonly onnx.StringStringEntryProto[]): Record<string, string> =>
  Object.fromEntries(props.map((p) => [p.key, p.value]));

const node = (model: onnx.ModelProto, name: string): onnx.NodeProto => {
  const found = model.graph?.node.find((n) => n.name === name);
  if (found === undefined) throw new Error(`no node ${name}`);
  return found;
};

describe('ONNX schema: fields newer than the schema survive decode, surgery and encode', () => {
  it('decode → encode keeps unknown fields on the model, graph and nodes, and post-1.10 metadata_props', () => {
    const bytes = modelWithNewerFields();
    const { proto } = parseOnnxModel(bytes, 'newer.onnx');
    expect(unknownText(proto, FUTURE.model)).toEqual(['model-future']);
    expect(unknownText(proto.graph!, FUTURE.graph)).toEqual(['graph-future']);
    expect(unknownText(node(proto, 'n0'), FUTURE.node)).toEqual(['n0-future']);
    expect(metadata(node(proto, 'n1').metadataProps)).toEqual({ origin: 'n1-meta' });

    const again = encodeOnnxModel(proto);
    for (const raw of [
      field(FUTURE.model, 'model-future'),
      field(FUTURE.graph, 'graph-future'),
      field(FUTURE.node, 'n0-future'),
      varintField(FUTURE.nodeCount, 300),
      field(NODE_METADATA_PROPS, entry('origin', 'n0-meta')),
    ]) {
      expect(containsBytes(again, raw)).toBe(true);
    }
    // Encoding is deterministic, so a second round trip is byte-identical to the first.
    expect(encodeOnnxModel(parseOnnxModel(again).proto)).toEqual(again);
  });

  it('head and tail sub-models keep them, and still reproduce the full model in onnxruntime', async () => {
    const model = parseOnnxModel(modelWithNewerFields(), 'newer.onnx');
    const index = indexGraph(model);
    // The shape probe re-encodes the model with every tensor exposed: onnxruntime must accept the extra fields.
    const probed = await probeTensorShapes(index);
    expect(probed.get('a')?.spec.shape).toEqual(['batch', 4]);
    const split = splitAtCut(index, probed, ['a']);
    const headBytes = split.head();
    const tailBytes = split.tail();
    const head = parseOnnxModel(headBytes, 'head.onnx');
    const tail = parseOnnxModel(tailBytes, 'tail.onnx');

    expect(head.graph.node.map((n) => n.name)).toEqual(['n0']);
    expect(tail.graph.node.map((n) => n.name)).toEqual(['n1']);
    for (const part of [head, tail]) {
      expect(unknownText(part.proto, FUTURE.model)).toEqual(['model-future']);
      expect(unknownText(part.graph, FUTURE.graph)).toEqual(['graph-future']);
      expect(metadata(part.graph.metadataProps)).toEqual({ origin: 'graph-meta' });
    }
    expect(unknownText(node(head.proto, 'n0'), FUTURE.node)).toEqual(['n0-future']);
    expect(metadata(node(head.proto, 'n0').metadataProps)).toEqual({ origin: 'n0-meta' });
    expect(unknownText(node(tail.proto, 'n1'), FUTURE.node)).toEqual(['n1-future']);
    expect(metadata(tail.graph.initializer[0]!.metadataProps)).toEqual({ origin: 'w-meta' });
    expect(containsBytes(headBytes, field(FUTURE.node, 'n0-future'))).toBe(true);
    expect(containsBytes(tailBytes, varintField(FUTURE.nodeCount, 300))).toBe(true);
    // The cut tensor's int64 dims come back as numbers, with the batch dim symbolic.
    expect(head.outputs).toEqual([{ name: 'a', dtype: 'float32', shape: ['batch', 4] }]);
    expect(tail.inputs).toEqual([{ name: 'a', dtype: 'float32', shape: ['batch', 4] }]);

    const x = new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4, 5, -6, 7, -8]), [2, 4]);
    const run = async (bytes: Uint8Array, feeds: Record<string, ort.Tensor>) => {
      const session = await ort.InferenceSession.create(bytes);
      try {
        return await session.run(feeds);
      } finally {
        await session.release();
      }
    };
    const full = await run(model.bytes, { x });
    const { a } = await run(headBytes, { x });
    const { y } = await run(tailBytes, { a: a! });
    expect(Array.from(y!.data as Float32Array)).toEqual(Array.from(full['y']!.data as Float32Array));
    expect(Array.from(y!.data as Float32Array)).toEqual([0, 4, 0, 16, 5, 0, 21, 0]);
  });
});
