// Pure tensor plumbing between wire requests and one onnxruntime run: check each request against the tail's
// inputs, stack requests along dim 0, and cut the outputs back into per-request views.
import {
  allocateArray,
  type Codec,
  CODEC_SPECS,
  CodedError,
  decodeAnyTensor,
  type DecodeLimits,
  DTYPE_SPECS,
  type DtypeArray,
  type EncodedTensor,
  FLOAT_DTYPE,
  HOST_IS_LITTLE_ENDIAN,
  isCodec,
  LOSSLESS_CODEC,
  type TensorDtype,
  validateEncodedTensor,
  WireErrorCode,
} from '@cleave/proto';

/** Element arrays that cross the wire and the worker boundary. */
export type TensorData = DtypeArray;

/** Element types the wire can carry. */
export type TensorDataType = TensorDtype;

/** A named tensor with its elements, as fed to or returned by a tail. */
export interface NamedTensor {
  readonly name: string;
  readonly dtype: TensorDataType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** An input or output of a tail as onnxruntime describes it: a string dim is symbolic, [] means unknown. */
export interface TensorSlot {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string)[];
}

/** What a tail accepts and returns, and whether requests can be stacked along dim 0. */
export interface TailSignature {
  readonly inputs: readonly TensorSlot[];
  readonly outputs: readonly TensorSlot[];
  /** True when every input has a symbolic dim 0 and fixed other dims, so any two requests stack. */
  readonly batchable: boolean;
}

/** One input of one request, ready to be copied into a batch. */
export interface InputPart {
  readonly name: string;
  readonly dtype: TensorDataType;
  readonly dims: readonly number[];
  /** Elements in the tensor. */
  readonly count: number;
  /**
   * Decoded elements; or, for a verbatim codec (f32) on a little-endian host, the received bytes themselves, so the
   * elements are copied once (into the batch) rather than twice.
   */
  readonly source: TensorData | { readonly littleEndianBytes: Uint8Array };
}

/** A request's inputs, checked and ordered like the tail's inputs. */
export interface CheckedInputs {
  /** Dim 0 shared by every input: the samples this request adds to a batch. */
  readonly samples: number;
  readonly tensors: readonly InputPart[];
  /** Codec of the reply's float outputs: the request codec's `replyCodec` (f32 and f16 mirror it, int8 gets f16). */
  readonly replyEncoding: Codec;
}

/** A request whose tensors do not fit the tail; the message is safe to send back, and `code` is the reply's. */
export class TailInputError extends CodedError<typeof WireErrorCode.BadRequest> {
  override readonly name = 'TailInputError';
  constructor(message: string, options?: ErrorOptions) {
    super(WireErrorCode.BadRequest, message, options);
  }
}

/** Builds a tail's signature from its onnxruntime input and output metadata. */
export function tailSignature(inputs: readonly TensorSlot[], outputs: readonly TensorSlot[]): TailSignature {
  const batchable =
    inputs.length > 0 &&
    inputs.every(
      (slot) => slot.shape.length > 0 && typeof slot.shape[0] === 'string' && slot.shape.slice(1).every(isFixed),
    );
  return { inputs, outputs, batchable };
}

/**
 * Decodes a request's wire tensors and checks them against the tail: the same names, dtypes and ranks, fixed dims
 * equal, and one dim 0 across inputs. Throws TailInputError, or the proto ProtocolError of a bad tensor.
 */
export function checkInputs(
  signature: TailSignature,
  wire: readonly EncodedTensor[],
  limits?: DecodeLimits,
): CheckedInputs {
  const byName = new Map(wire.map((t) => [t.name, t]));
  if (byName.size !== wire.length) throw new TailInputError('request carries two tensors with the same name');
  const expected = signature.inputs.map((slot) => slot.name);
  const missing = expected.filter((name) => !byName.has(name));
  const extra = [...byName.keys()].filter((name) => !expected.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    throw new TailInputError(
      `tail inputs are [${expected.join(', ')}]; request is missing [${missing.join(', ')}] and has extra [${extra
        .slice(0, 8)
        .join(', ')}]`,
    );
  }
  let samples: number | undefined;
  let replyEncoding: CheckedInputs['replyEncoding'] | undefined;
  const tensors = signature.inputs.map((slot): InputPart => {
    const encoded = byName.get(slot.name)!;
    const tensor = readInput(encoded, limits);
    const where = `tensor ${JSON.stringify(slot.name)}`;
    if (tensor.dtype !== slot.dtype)
      throw new TailInputError(`${where}: tail expects ${slot.dtype}, got ${tensor.dtype}`);
    checkShape(where, slot.shape, tensor.dims);
    const first = tensor.dims[0] ?? 1;
    if (samples !== undefined && first !== samples) {
      throw new TailInputError(`${where}: dim 0 is ${first} but another input has ${samples}; inputs must agree`);
    }
    samples = first;
    if (tensor.dtype === FLOAT_DTYPE && replyEncoding === undefined && isCodec(encoded.encoding)) {
      replyEncoding = CODEC_SPECS[encoded.encoding].replyCodec;
    }
    return tensor;
  });
  if (samples === undefined || samples < 1) throw new TailInputError('request carries no samples (dim 0 is 0)');
  return { samples, tensors, replyEncoding: replyEncoding ?? LOSSLESS_CODEC };
}

/** Concatenates the requests' inputs along dim 0 into fresh arrays (which may then be transferred). */
export function stackInputs(signature: TailSignature, requests: readonly CheckedInputs[]): NamedTensor[] {
  if (requests.length === 0) throw new RangeError('"requests" must not be empty');
  const total = requests.reduce((sum, r) => sum + r.samples, 0);
  return signature.inputs.map((slot, i) => {
    const parts = requests.map((r) => r.tensors[i]!);
    const first = parts[0]!;
    const count = parts.reduce((sum, t) => sum + t.count, 0);
    const data = allocateArray(first.dtype, count);
    let offset = 0;
    for (const part of parts) {
      copyInto(data, part, offset);
      offset += part.count;
    }
    return { name: slot.name, dtype: first.dtype, dims: [total, ...first.dims.slice(1)], data };
  });
}

/**
 * Cuts each batch output into one view per request along dim 0, in request order. An output whose dim 0 is not
 * the batch's total can only go to a batch of one; otherwise this throws RangeError (a tail that cannot batch).
 */
export function scatterOutputs(outputs: readonly NamedTensor[], samples: readonly number[]): NamedTensor[][] {
  const total = samples.reduce((a, b) => a + b, 0);
  return samples.map((n, index) => {
    const start = samples.slice(0, index).reduce((a, b) => a + b, 0);
    return outputs.map((out) => {
      if (samples.length === 1) return out;
      if (out.dims[0] !== total) {
        throw new RangeError(`output "${out.name}" has dim 0 = ${out.dims[0]}, not the batch's ${total} samples`);
      }
      const perSample = out.dims.slice(1).reduce((a, b) => a * b, 1);
      const data = out.data.subarray(start * perSample, (start + n) * perSample);
      return { name: out.name, dtype: out.dtype, dims: [n, ...out.dims.slice(1)], data };
    });
  });
}

function isFixed(dim: number | string): boolean {
  return typeof dim === 'number' && dim >= 0;
}

function checkShape(where: string, shape: readonly (number | string)[], dims: readonly number[]): void {
  if (shape.length === 0) return; // onnxruntime does not know the shape: let the run decide
  if (dims.length !== shape.length) {
    throw new TailInputError(
      `${where}: tail expects ${shape.length} dims [${shape.join(', ')}], got [${dims.join(', ')}]`,
    );
  }
  shape.forEach((dim, axis) => {
    if (isFixed(dim) && dims[axis] !== dim) {
      throw new TailInputError(
        `${where}: dim ${axis} must be ${dim} (tail shape [${shape.join(', ')}]), got [${dims.join(', ')}]`,
      );
    }
  });
}

function readInput(encoded: EncodedTensor, limits: DecodeLimits | undefined): InputPart {
  const verbatim = isCodec(encoded.encoding) && CODEC_SPECS[encoded.encoding].verbatim;
  if (HOST_IS_LITTLE_ENDIAN && encoded.dtype === FLOAT_DTYPE && verbatim) {
    const { name, dims, data } = validateEncodedTensor(encoded, limits);
    checkFinite(name, floatView(data));
    return {
      name,
      dtype: FLOAT_DTYPE,
      dims,
      count: data.byteLength / DTYPE_SPECS[FLOAT_DTYPE].bytes,
      source: { littleEndianBytes: data },
    };
  }
  const { name, dtype, dims, data } = decodeAnyTensor(encoded, limits);
  if (data instanceof Float32Array) checkFinite(name, data);
  else if (dtype === 'bool') checkBool(name, data);
  return { name, dtype, dims, count: data.length, source: data };
}

// The float32 elements of little-endian bytes: a view when aligned, else a copy (only to be read, then dropped).
function floatView(bytes: Uint8Array): Float32Array {
  const width = DTYPE_SPECS[FLOAT_DTYPE].bytes;
  if (bytes.byteOffset % width === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / width);
  return new Float32Array(bytes.slice().buffer);
}

// NaN and ±Infinity are never a valid activation to send: they come from a broken head or a bad input, and a tail
// would only spread them. An f16 request also gets here when a value overflowed f16's range (±65504).
function checkFinite(name: string, values: Float32Array): void {
  const bad = values.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new TailInputError(
      `tensor ${JSON.stringify(name)}: element ${bad} is ${String(values[bad])}; float tensors must be finite`,
    );
  }
}

function checkBool(name: string, values: Uint8Array): void {
  const bad = values.findIndex((x) => x > 1);
  if (bad >= 0) {
    throw new TailInputError(
      `tensor ${JSON.stringify(name)}: element ${bad} of a bool tensor is ${values[bad]}, not 0 or 1`,
    );
  }
}

function copyInto(target: TensorData, part: InputPart, offset: number): void {
  const { source } = part;
  if ('littleEndianBytes' in source) {
    const bytes = source.littleEndianBytes;
    new Uint8Array(target.buffer, target.byteOffset + offset * target.BYTES_PER_ELEMENT, bytes.byteLength).set(bytes);
    return;
  }
  // The dtypes were checked equal per input, so source and target are the same kind of array.
  (target as Float32Array).set(source as Float32Array, offset);
}
