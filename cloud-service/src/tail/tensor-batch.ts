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
  firstNonFinite,
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
   * elements are copied once (into the batch) rather than twice; or, for a float tensor in f16/int8 larger than one
   * run, its still encoded (validated) wire tensor, decoded one chunk at a time by {@link decodeChunk}.
   */
  readonly source: TensorData | { readonly littleEndianBytes: Uint8Array } | { readonly encoded: EncodedTensor };
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
  maxSamplesPerRun?: number,
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
    const tensor = readInput(encoded, limits, maxSamplesPerRun);
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

/** What decoding a request's inputs costs, read from the tensors' dims and dtypes alone (no element is touched). */
export interface DecodeCost {
  /** Elements across the request's tensors. */
  readonly elements: number;
  /**
   * Bytes the replica allocates to decode them: elements × the decoded element size (an int8 element becomes a
   * 4-byte float), except for tensors read in place (f32 on a little-endian host).
   */
  readonly bytes: number;
}

/**
 * The {@link DecodeCost} of validated wire tensors. Cheap: admission calls it before anything is decoded, so a small
 * int8 message cannot make the replica allocate four times its size unannounced.
 */
export function decodeCost(wire: readonly EncodedTensor[]): DecodeCost {
  let elements = 0;
  let bytes = 0;
  for (const tensor of wire) {
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    elements += count;
    // Counted whole even when decoded a chunk at a time (decodeChunk): the bound is on what a request decodes
    // during its stay, which also leaves that much garbage behind it and keeps a few huge requests from crowding
    // the tail while small ones wait.
    if (!readsInPlace(tensor)) bytes += count * DTYPE_SPECS[tensor.dtype].bytes;
  }
  return { elements, bytes };
}

/**
 * Decodes the parts of `chunk` still encoded (see {@link InputPart.source}), checking their values like
 * {@link checkInputs} does. Called for one chunk right before it runs, so a request much larger than a run never
 * holds more than one chunk of decoded floats. Throws TailInputError on a non-finite value.
 */
export function decodeChunk(chunk: CheckedInputs, limits?: DecodeLimits): CheckedInputs {
  if (!chunk.tensors.some((part) => 'encoded' in part.source)) return chunk;
  const tensors = chunk.tensors.map((part): InputPart => {
    if (!('encoded' in part.source)) return part;
    const { data } = decodeAnyTensor(part.source.encoded, limits);
    checkFinite(part.name, data as Float32Array);
    return { ...part, source: data };
  });
  return { ...chunk, tensors };
}

/**
 * Cuts a request into consecutive requests of at most `maxSamples` samples each along dim 0, as views on its
 * elements (no copy), so that a huge request runs as several small batches instead of one huge one.
 */
export function splitInputs(inputs: CheckedInputs, maxSamples: number): CheckedInputs[] {
  if (!Number.isSafeInteger(maxSamples) || maxSamples < 1) {
    throw new RangeError(`"maxSamples" must be a positive integer; got ${String(maxSamples)}`);
  }
  if (inputs.samples <= maxSamples) return [inputs];
  const chunks: CheckedInputs[] = [];
  for (let start = 0; start < inputs.samples; start += maxSamples) {
    const samples = Math.min(maxSamples, inputs.samples - start);
    const tensors = inputs.tensors.map((part) => slicePart(part, inputs.samples, start, samples));
    chunks.push({ samples, tensors, replyEncoding: inputs.replyEncoding });
  }
  return chunks;
}

/** Joins the outputs of consecutive chunks of one request (see {@link splitInputs}) back along dim 0. */
export function concatOutputs(chunks: readonly (readonly NamedTensor[])[]): NamedTensor[] {
  const first = chunks[0];
  if (first === undefined) throw new RangeError('"chunks" must not be empty');
  if (chunks.length === 1) return [...first];
  return first.map((out, i) => {
    const parts = chunks.map((chunk) => chunk[i]!);
    const rest = out.dims.slice(1);
    for (const part of parts) {
      if (
        part.dtype !== out.dtype ||
        part.dims.length !== out.dims.length ||
        part.dims.slice(1).join() !== rest.join()
      ) {
        throw new RangeError(
          `output "${out.name}" changes shape between chunks: [${out.dims.join(', ')}] and [${part.dims.join(', ')}]`,
        );
      }
    }
    const data = allocateArray(
      out.dtype,
      parts.reduce((sum, part) => sum + part.data.length, 0),
    );
    let offset = 0;
    for (const part of parts) {
      (data as Float32Array).set(part.data as Float32Array, offset);
      offset += part.data.length;
    }
    const total = parts.reduce((sum, part) => sum + part.dims[0]!, 0);
    return { name: out.name, dtype: out.dtype, dims: [total, ...rest], data };
  });
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

// Verbatim float32 on a little-endian host is used as received: its bytes are the elements.
function readsInPlace(encoded: EncodedTensor): boolean {
  const verbatim = isCodec(encoded.encoding) && CODEC_SPECS[encoded.encoding].verbatim;
  return HOST_IS_LITTLE_ENDIAN && encoded.dtype === FLOAT_DTYPE && verbatim;
}

function slicePart(part: InputPart, samples: number, start: number, count: number): InputPart {
  const perSample = part.count / samples;
  const { source } = part;
  const dims = [count, ...part.dims.slice(1)];
  if ('littleEndianBytes' in source) {
    const width = DTYPE_SPECS[part.dtype].bytes;
    const bytes = source.littleEndianBytes.subarray(start * perSample * width, (start + count) * perSample * width);
    return { ...part, dims, count: count * perSample, source: { littleEndianBytes: bytes } };
  }
  if ('encoded' in source) {
    const { encoded } = source;
    const width = encodedWidth(encoded);
    const data = encoded.data.subarray(start * perSample * width, (start + count) * perSample * width);
    // Per-channel int8 along dim 0 has one scale per sample: the chunk takes its own.
    const perSampleScale = encoded.axis === 0;
    const chunk: EncodedTensor = {
      ...encoded,
      dims,
      data,
      ...(perSampleScale && encoded.scale ? { scale: encoded.scale.slice(start, start + count) } : {}),
      ...(perSampleScale && encoded.zeroPoint ? { zeroPoint: encoded.zeroPoint.slice(start, start + count) } : {}),
    };
    return { ...part, dims, count: count * perSample, source: { encoded: chunk } };
  }
  const data = source.subarray(start * perSample, (start + count) * perSample);
  return { ...part, dims, count: count * perSample, source: data };
}

// A float tensor in a fixed-width non-verbatim codec (f16, int8) with more samples than one run is kept encoded and
// decoded per chunk: decoded whole, an 8 MiB int8 message would hold 32 MiB of floats for its whole stay.
function decodesLazily(encoded: EncodedTensor, maxSamplesPerRun: number | undefined): boolean {
  if (maxSamplesPerRun === undefined || encoded.dtype !== FLOAT_DTYPE || readsInPlace(encoded)) return false;
  if (!isCodec(encoded.encoding) || CODEC_SPECS[encoded.encoding].bytesPerElement === 'measured') return false;
  return encoded.dims.length >= 1 && (encoded.dims[0] ?? 0) > maxSamplesPerRun;
}

function encodedWidth(encoded: EncodedTensor): number {
  return CODEC_SPECS[encoded.encoding as Codec].bytesPerElement as number;
}

function readInput(
  encoded: EncodedTensor,
  limits: DecodeLimits | undefined,
  maxSamplesPerRun: number | undefined,
): InputPart {
  if (decodesLazily(encoded, maxSamplesPerRun)) {
    const validated = validateEncodedTensor(encoded, limits);
    const count = validated.dims.reduce((a, b) => a * b, 1);
    return { name: validated.name, dtype: FLOAT_DTYPE, dims: validated.dims, count, source: { encoded: validated } };
  }
  if (readsInPlace(encoded)) {
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
  const bad = firstNonFinite(values);
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
  if ('encoded' in source) throw new RangeError(`input "${part.name}" must go through decodeChunk before a batch`);
  if ('littleEndianBytes' in source) {
    const bytes = source.littleEndianBytes;
    new Uint8Array(target.buffer, target.byteOffset + offset * target.BYTES_PER_ELEMENT, bytes.byteLength).set(bytes);
    return;
  }
  // The dtypes were checked equal per input, so source and target are the same kind of array.
  (target as Float32Array).set(source as Float32Array, offset);
}
