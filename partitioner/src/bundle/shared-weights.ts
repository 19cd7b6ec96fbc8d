import { createHash } from 'node:crypto';
import { encodeOnnxModel } from '../onnx/onnx-model.js';
import {
  decodeModel,
  OnnxSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  withFields,
  type onnx,
} from '../onnx/onnx-schema.js';

// A bundle's weights, stored once: every head, tail and the whole model read them from one file through ONNX
// external data (location, offset, length), instead of each graph embedding a copy of what it reads. onnxruntime
// resolves `location` relative to the graph's own directory and rejects `..`, so the graphs sit beside the file.

/** Name of the weights file in a bundle, beside every graph that reads it. */
export const WEIGHTS_FILE = 'weights.bin';

/**
 * Tensors smaller than this stay inline in their graph: they are the shapes, axes and scalars that ONNX shape
 * inference and constant folding read at load time, which they cannot from external data (a Reshape's shape), and
 * storing them once would save next to nothing.
 */
export const MIN_EXTERNAL_BYTES = 1024;

/** Every blob in the weights file starts at a multiple of this, so it can be mapped and read aligned. */
export const WEIGHTS_ALIGNMENT = 64;

const DT = TensorProto_DataType;

/** Bytes per element of the types whose typed fields hold one element per entry. */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DT.FLOAT]: 4,
  [DT.COMPLEX64]: 8,
  [DT.DOUBLE]: 8,
  [DT.COMPLEX128]: 16,
  [DT.INT64]: 8,
  [DT.UINT64]: 8,
  [DT.UINT32]: 4,
  [DT.INT32]: 4,
  [DT.INT16]: 2,
  [DT.UINT16]: 2,
  [DT.FLOAT16]: 2,
  [DT.BFLOAT16]: 2,
  [DT.INT8]: 1,
  [DT.UINT8]: 1,
  [DT.BOOL]: 1,
  [DT.FLOAT8E4M3FN]: 1,
  [DT.FLOAT8E4M3FNUZ]: 1,
  [DT.FLOAT8E5M2]: 1,
  [DT.FLOAT8E5M2FNUZ]: 1,
  [DT.FLOAT8E8M0]: 1,
};

/**
 * The raw little-endian bytes of a tensor's data, whichever field holds them: `raw_data`, or the typed field its
 * type uses (`float_data`, `int64_data`, `int32_data` for the narrow integer, bool, float16 and float8 types, ...).
 * Undefined when the tensor cannot be stored externally: strings, sub-byte types given in typed fields, segments,
 * data already external, or typed data whose length does not match the dims.
 */
export function tensorRawBytes(tensor: onnx.TensorProto): Uint8Array | undefined {
  if (tensor.dataLocation === TensorProto_DataLocation.EXTERNAL || tensor.segment !== undefined) return undefined;
  const type = tensor.dataType as TensorProto_DataType;
  if (type === DT.STRING || type === DT.UNDEFINED) return undefined;
  if (tensor.rawData.length > 0) return tensor.rawData;
  const size = ELEMENT_BYTES[type];
  if (size === undefined) return undefined;
  const elements = tensor.dims.reduce((n, d) => n * Number(d), 1);
  const out = new Uint8Array(elements * size);
  const view = new DataView(out.buffer);
  const fill = <T>(values: readonly T[], perValue: number, put: (at: number, v: T) => void): Uint8Array | undefined => {
    if (values.length * perValue !== out.length) return undefined;
    values.forEach((v, i) => put(i * perValue, v));
    return out;
  };
  switch (type) {
    case DT.FLOAT:
    case DT.COMPLEX64:
      return fill(tensor.floatData, 4, (at, v) => view.setFloat32(at, v, true));
    case DT.DOUBLE:
    case DT.COMPLEX128:
      return fill(tensor.doubleData, 8, (at, v) => view.setFloat64(at, v, true));
    case DT.INT64:
      return fill(tensor.int64Data, 8, (at, v) => view.setBigInt64(at, BigInt.asIntN(64, v), true));
    case DT.UINT64:
      return fill(tensor.uint64Data, 8, (at, v) => view.setBigUint64(at, BigInt.asUintN(64, v), true));
    case DT.UINT32:
      return fill(tensor.uint64Data, 4, (at, v) => view.setUint32(at, Number(BigInt.asUintN(32, v)), true));
    case DT.INT32:
      return fill(tensor.int32Data, 4, (at, v) => view.setInt32(at, v, true));
    default:
      // One element per int32 entry, bit-wise: int16, uint16, (b)float16 in the low 16 bits, 8-bit types in the low 8.
      return size === 2
        ? fill(tensor.int32Data, 2, (at, v) => view.setUint16(at, v & 0xffff, true))
        : fill(tensor.int32Data, 1, (at, v) => view.setUint8(at, v & 0xff));
  }
}

/** The tensor of a `Constant` node that holds one in its `value` attribute, else undefined. */
function constantTensor(node: onnx.NodeProto): onnx.TensorProto | undefined {
  if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  if (node.attribute.length !== 1 || node.output.length !== 1) return undefined;
  const attribute = node.attribute[0]!;
  return attribute.name === 'value' ? attribute.t : undefined;
}

/**
 * A copy of `model` whose `Constant` nodes holding at least `minBytes` of data are initializers instead (named after
 * the node's output, appended in node order; the other nodes keep their order), so that the weights some exporters
 * keep in Constant nodes (paddle2onnx: all of them) are stored once too. A Constant whose output is a graph output
 * stays a node, as do all of them in IR < 4 models (where every initializer must also be a graph input).
 */
export function constantsToInitializers(model: onnx.ModelProto, minBytes = MIN_EXTERNAL_BYTES): onnx.ModelProto {
  const graph = model.graph;
  if (graph === undefined || model.irVersion < 4n) return model;
  const outputs = new Set(graph.output.map((o) => o.name));
  const node: onnx.NodeProto[] = [];
  const lifted: onnx.TensorProto[] = [];
  for (const n of graph.node) {
    const tensor = constantTensor(n);
    const bytes = tensor === undefined || outputs.has(n.output[0]!) ? undefined : tensorRawBytes(tensor);
    if (tensor === undefined || bytes === undefined || bytes.length < minBytes) {
      node.push(n);
      continue;
    }
    lifted.push(withFields(OnnxSchema.TensorProto, tensor, { name: n.output[0]! }));
  }
  if (lifted.length === 0) return model;
  const initializer = [...graph.initializer, ...lifted];
  return withFields(OnnxSchema.ModelProto, model, {
    graph: withFields(OnnxSchema.GraphProto, graph, { node, initializer }),
  });
}

/** Where one blob sits in the weights file. */
export interface WeightsRef {
  readonly offset: number;
  readonly length: number;
}

/**
 * The weights file being built: each distinct blob (by sha256 of its bytes) once, at a {@link WEIGHTS_ALIGNMENT}
 * aligned offset, in the order first added, so the same graphs always give the same file.
 */
export class WeightsFile {
  private readonly chunks: Uint8Array[] = [];
  private readonly bySha = new Map<string, WeightsRef>();
  private size = 0;

  /** Distinct tensors stored. */
  get tensors(): number {
    return this.bySha.size;
  }

  /** Bytes of the file so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Stores `bytes` unless identical bytes are stored already, and says where they are. Copies what it keeps. */
  add(bytes: Uint8Array): WeightsRef {
    const sha = createHash('sha256').update(bytes).digest('hex');
    const known = this.bySha.get(sha);
    if (known !== undefined) return known;
    const pad = (WEIGHTS_ALIGNMENT - (this.size % WEIGHTS_ALIGNMENT)) % WEIGHTS_ALIGNMENT;
    if (pad > 0) this.chunks.push(new Uint8Array(pad));
    // A copy: decoded tensors are views into their whole graph's bytes, which must not stay alive through them.
    this.chunks.push(bytes.slice());
    const ref = { offset: this.size + pad, length: bytes.length };
    this.size = ref.offset + ref.length;
    this.bySha.set(sha, ref);
    return ref;
  }

  /** The file's contents. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/**
 * A copy of `model` whose initializers of at least `minBytes` live in `weights` (added there, deduplicated): each
 * keeps its name, type and dims, and gets data_location EXTERNAL with external_data `location`, `offset` and
 * `length`, its inline data emptied. Large Constant nodes become initializers first ({@link constantsToInitializers}).
 */
export function externalizeModel(
  model: onnx.ModelProto,
  weights: WeightsFile,
  options: { readonly location?: string; readonly minBytes?: number } = {},
): onnx.ModelProto {
  const location = options.location ?? WEIGHTS_FILE;
  const minBytes = options.minBytes ?? MIN_EXTERNAL_BYTES;
  const lifted = constantsToInitializers(model, minBytes);
  const graph = lifted.graph;
  if (graph === undefined) return lifted;
  const initializer = graph.initializer.map((tensor) => {
    const bytes = tensorRawBytes(tensor);
    if (bytes === undefined || bytes.length === 0 || bytes.length < minBytes) return tensor;
    const ref = weights.add(bytes);
    return withFields(OnnxSchema.TensorProto, tensor, {
      rawData: new Uint8Array(0),
      floatData: [],
      doubleData: [],
      int32Data: [],
      int64Data: [],
      uint64Data: [],
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
  });
  return withFields(OnnxSchema.ModelProto, lifted, {
    graph: withFields(OnnxSchema.GraphProto, graph, { initializer }),
  });
}

/** A bundle's graph files rewritten to share one weights file, and that file. */
export interface SharedWeights {
  /**
   * The graphs, in the order given, each producing its bytes with the weights external, then the weights file
   * (last: it is complete only once every graph has been produced).
   */
  readonly files: ReadonlyMap<string, () => Uint8Array>;
  /** The weights file as built so far; complete once {@link SharedWeights.files} have all been produced. */
  readonly weights: WeightsFile;
}

/**
 * Rewrites the graph files of a bundle (path → producer of embedded ONNX bytes) to store their weights once, in
 * `file` beside them. Producers stay lazy and are meant to be called one at a time, in order, so only one embedded
 * graph is decoded at once; the weights file's producer throws if called before every graph's.
 */
export function shareWeights(graphs: ReadonlyMap<string, () => Uint8Array>, file = WEIGHTS_FILE): SharedWeights {
  if (graphs.has(file)) throw new Error(`a graph file is named like the weights file ${file}`);
  const weights = new WeightsFile();
  const produced = new Set<string>();
  const files = new Map<string, () => Uint8Array>();
  for (const [path, produce] of graphs) {
    if (path.includes('/')) throw new Error(`graph ${path} must sit beside ${file}: onnxruntime rejects '..'`);
    files.set(path, () => {
      const bytes = encodeOnnxModel(externalizeModel(decodeModel(produce()), weights, { location: file }));
      produced.add(path);
      return bytes;
    });
  }
  files.set(file, () => {
    const missing = [...graphs.keys()].filter((path) => !produced.has(path));
    if (missing.length > 0) throw new Error(`${file} requested before its graphs ${missing.join(', ')}`);
    return weights.bytes();
  });
  return { files, weights };
}
