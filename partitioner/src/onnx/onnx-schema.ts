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

/** Encodes a model, writing back the unknown fields {@link decodeModel} kept. */
export function encodeModel(model: onnx.ModelProto): Uint8Array<ArrayBuffer> {
  return toBinary(ModelProtoSchema, model, { writeUnknownFields: true });
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
