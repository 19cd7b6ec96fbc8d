import { readFile } from 'node:fs/promises';
import { OnnxModelError, OnnxModelErrorCode } from './onnx-errors.js';
import { elementTypeOfOnnx } from '@cleave/proto';
import { decodeModel, encodeModel, TensorProto_DataLocation, type onnx } from './onnx-schema.js';

/** A tensor's name, element type and shape; a string or null dim is symbolic (e.g. the batch). */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string | null)[];
}

/** A decoded, structurally validated ONNX model. */
export interface OnnxModel {
  readonly proto: onnx.ModelProto;
  readonly graph: onnx.GraphProto;
  /** Graph inputs that are not initializers (older exporters list weights as inputs too). */
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Names of all initializer tensors. */
  readonly initializerNames: ReadonlySet<string>;
  /** Where it came from, for error messages. */
  readonly source: string;
  /** The original serialised model, so whole-model candidates run exactly what the user gave. */
  readonly bytes: Uint8Array;
}

/**
 * Converts an ONNX int64 (a `bigint` in the schema) to a JS number. Dims, axes and counts are far
 * below 2^53, so this is exact for every value Cleave reads.
 */
export function int64ToNumber(value: bigint): number {
  return Number(value);
}

/** Name of an ONNX element type code, or `type<N>` when Cleave has no name for it. */
export function dataTypeName(code: number): string {
  return elementTypeOfOnnx(code) ?? `type${code}`;
}

/** The spec of a graph input, output or value_info entry. */
export function valueInfoToSpec(info: onnx.ValueInfoProto): TensorSpec {
  const tensorType = info.type?.value.case === 'tensorType' ? info.type.value.value : undefined;
  const dims = tensorType?.shape?.dim ?? [];
  return {
    name: info.name,
    dtype: dataTypeName(tensorType?.elemType ?? 0),
    shape: dims.map((d) => {
      // An empty dim_param names nothing, so it is as unknown as a dim with neither set.
      if (d.value.case === 'dimParam' && d.value.value !== '') return d.value.value;
      return d.value.case === 'dimValue' ? int64ToNumber(d.value.value) : null;
    }),
  };
}

const ONNX_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft']);

/**
 * Decodes and validates an ONNX model: protobuf structure, graph present, no external data, known
 * op domains, at least one input and output, and every node input produced somewhere.
 */
export function parseOnnxModel(bytes: Uint8Array, source = '<buffer>'): OnnxModel {
  let proto: onnx.ModelProto;
  try {
    proto = decodeModel(bytes);
  } catch (err) {
    throw new OnnxModelError(
      OnnxModelErrorCode.NotOnnx,
      `${source}: not an ONNX model or truncated (protobuf decode failed: ${(err as Error).message})`,
      { cause: err },
    );
  }
  const graph = proto.graph;
  if (!graph || graph.node.length === 0 || proto.opsetImport.length === 0) {
    throw new OnnxModelError(
      OnnxModelErrorCode.NotOnnx,
      `${source}: not an ONNX model (no graph, no nodes or no opset import)`,
    );
  }
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  const external = graph.initializer.find((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL);
  if (external) {
    throw new OnnxModelError(
      OnnxModelErrorCode.Unsupported,
      `${source}: unsupported: initializer '${external.name}' uses external data; re-save the model with weights embedded (onnx.save(model, path, save_as_external_data=False))`,
    );
  }
  if (graph.sparseInitializer.length > 0) {
    throw new OnnxModelError(OnnxModelErrorCode.Unsupported, `${source}: unsupported: sparse initializers`);
  }
  const foreign = proto.opsetImport.find((o) => !ONNX_DOMAINS.has(o.domain));
  if (foreign) {
    throw new OnnxModelError(
      OnnxModelErrorCode.Unsupported,
      `${source}: unsupported: custom operator domain '${foreign.domain}' (only ai.onnx, ai.onnx.ml and com.microsoft)`,
    );
  }
  const subgraphNode = graph.node.find((n) => n.attribute.some((a) => a.g !== undefined || a.graphs.length > 0));
  if (subgraphNode) {
    throw new OnnxModelError(
      OnnxModelErrorCode.Unsupported,
      `${source}: unsupported: control-flow node '${subgraphNode.name}' (${subgraphNode.opType}) has subgraphs`,
    );
  }
  const inputs = graph.input.filter((i) => !initializerNames.has(i.name)).map(valueInfoToSpec);
  const outputs = graph.output.map(valueInfoToSpec);
  if (inputs.length === 0) throw new OnnxModelError(OnnxModelErrorCode.NoInputs, `${source}: the graph has no inputs`);
  if (outputs.length === 0)
    throw new OnnxModelError(OnnxModelErrorCode.NoOutputs, `${source}: the graph has no outputs`);

  const available = new Set<string>([...initializerNames, ...inputs.map((i) => i.name), '']);
  for (const node of graph.node) for (const out of node.output) available.add(out);
  for (const node of graph.node) {
    const missing = node.input.find((name) => !available.has(name));
    if (missing !== undefined) {
      throw new OnnxModelError(
        OnnxModelErrorCode.DanglingReference,
        `${source}: node '${node.name}' (${node.opType}) reads tensor '${missing}', which no node, input or initializer provides`,
      );
    }
  }
  const missingOutput = outputs.find((o) => !available.has(o.name));
  if (missingOutput) {
    throw new OnnxModelError(
      OnnxModelErrorCode.DanglingReference,
      `${source}: graph output '${missingOutput.name}' is not produced by any node`,
    );
  }
  return { proto, graph, inputs, outputs, initializerNames, source, bytes };
}

/** Reads and validates an ONNX file; see {@link parseOnnxModel}. */
export async function loadOnnxModel(path: string): Promise<OnnxModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new OnnxModelError(OnnxModelErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseOnnxModel(bytes, path);
}

/** Serialises a model back to ONNX bytes, including any fields the schema kept without knowing them. */
export function encodeOnnxModel(proto: onnx.ModelProto): Uint8Array<ArrayBuffer> {
  return encodeModel(proto);
}
