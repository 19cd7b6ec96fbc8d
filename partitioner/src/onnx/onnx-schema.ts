import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import type * as onnx from 'onnx-buf';

/**
 * The ONNX message types (ONNX 1.20, onnx-buf on @bufbuild/protobuf v2): `onnx.ModelProto`,
 * `onnx.NodeProto`, ... int64 fields are `bigint`, enums are numbers and oneofs are `{ case, value }`.
 */
export type { onnx };
export { AttributeProto_AttributeType, TensorProto_DataLocation, TensorProto_DataType } from 'onnx-buf';

/**
 * The schemas of the ONNX messages Cleave builds, for {@link create}:
 * `create(OnnxSchema.NodeProto, { name, opType, input, output })`.
 */
export const OnnxSchema = {
  ModelProto: ModelProtoSchema,
  GraphProto: GraphProtoSchema,
  NodeProto: NodeProtoSchema,
  TensorProto: TensorProtoSchema,
  ValueInfoProto: ValueInfoProtoSchema,
  AttributeProto: AttributeProtoSchema,
  TypeProto: TypeProtoSchema,
  TypeProto_Tensor: TypeProto_TensorSchema,
  TensorShapeProto: TensorShapeProtoSchema,
  TensorShapeProto_Dimension: TensorShapeProto_DimensionSchema,
} as const;

/** Creates a message of one of the {@link OnnxSchema} types; nested plain objects become messages too. */
export { create };

/**
 * Decodes ONNX bytes. Fields this schema does not know (a model newer than ONNX 1.20) are kept on
 * each message's `$unknown`, so re-encoding a model after surgery does not silently drop them.
 * Throws the protobuf reader's error on bytes that are not a protobuf message.
 */
export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  // readUnknownFields is already protobuf-es's default; it is spelled out because the whole point
  // of this schema is that it holds.
  return fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
}

/** Field numbers the fast path of {@link encodeModel} writes itself. */
const MODEL_GRAPH_FIELD = 7;
const GRAPH_INITIALIZER_FIELD = 5;
const TENSOR_RAW_DATA_FIELD = 9;
const LENGTH_DELIMITED = 2;

/** Bytes of a varint. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** A copy of `message` without some of its fields (unset, not defaulted), keeping unknown fields. */
function without<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  drop: readonly string[],
): MessageShape<Desc> {
  const fields: Record<string, unknown> = { ...message };
  for (const key of ['$typeName', '$unknown', ...drop]) delete fields[key];
  const copy = create(schema, fields as MessageInitShape<Desc>);
  if (message.$unknown !== undefined) copy.$unknown = message.$unknown;
  return copy;
}

/** A length-delimited field: tag, length, then the parts. */
function lengthDelimited(field: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return [Uint8Array.from([...varint((field << 3) | LENGTH_DELIMITED), ...varint(length)]), ...parts];
}

/**
 * Encodes a model, writing back the unknown fields {@link decodeModel} kept. Weights stored as raw_data
 * are written straight into the output once: the generic writer copies a large payload several times
 * (buffer doubling, then shifting it behind each enclosing message's length prefix), which made
 * serialising a head or tail cost more than loading it. The graph and each initializer are written
 * after the model's and tensor's other fields, which protobuf parsers accept in any order.
 */
export function encodeModel(model: onnx.ModelProto): Uint8Array<ArrayBuffer> {
  const options = { writeUnknownFields: true };
  const graph = model.graph;
  if (graph === undefined || !graph.initializer.some((t) => t.rawData.length > 0)) {
    return toBinary(ModelProtoSchema, model, options);
  }
  const parts: Uint8Array[] = [toBinary(ModelProtoSchema, without(ModelProtoSchema, model, ['graph']), options)];
  const graphParts: Uint8Array[] = [
    toBinary(GraphProtoSchema, without(GraphProtoSchema, graph, ['initializer']), options),
  ];
  for (const tensor of graph.initializer) {
    const tensorParts =
      tensor.rawData.length > 0
        ? [
            toBinary(TensorProtoSchema, without(TensorProtoSchema, tensor, ['rawData']), options),
            ...lengthDelimited(TENSOR_RAW_DATA_FIELD, [tensor.rawData]),
          ]
        : [toBinary(TensorProtoSchema, tensor, options)];
    graphParts.push(...lengthDelimited(GRAPH_INITIALIZER_FIELD, tensorParts));
  }
  parts.push(...lengthDelimited(MODEL_GRAPH_FIELD, graphParts));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A shallow copy of `message` with some fields replaced (nested plain objects in `changes` become
 * messages). Use it instead of an object spread: a spread loses the prototype that supplies proto2
 * defaults, so unset fields would read as undefined. Fields the copy does not replace keep their
 * presence, and unknown fields are kept. Weights and other fields are shared, not copied.
 */
export function withFields<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  changes: MessageInitShape<Desc>,
): MessageShape<Desc> {
  // Own properties are exactly the fields that are set; the defaults live on the prototype.
  const fields: Record<string, unknown> = { ...message };
  // Without $typeName, create() builds a new message instead of returning the init object itself.
  delete fields['$typeName'];
  delete fields['$unknown'];
  const copy = create(schema, { ...fields, ...changes });
  if (message.$unknown !== undefined) copy.$unknown = message.$unknown;
  return copy;
}
