import { type Codec, CODEC_SPECS, CODECS, type EncodeTensorOptions, isCodec, RAW_ENCODING } from './codecs.js';
import { fromLittleEndianBytes, toLittleEndianBytes } from './byte-order.js';
import { type DecodeLimits } from './decode-limits.js';
import {
  DTYPE_SPECS,
  dtypeOfArray,
  type DtypeArray,
  type DtypeArrays,
  FLOAT_DTYPE,
  type RawDtype,
  type TensorDtype,
  type TypedArrayConstructor,
} from './dtypes.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import {
  type EncodedTensor,
  elementCount,
  MAX_TENSOR_NAME_LENGTH,
  MAX_TENSOR_RANK,
  validateEncodedTensor,
} from './tensor-validation.js';

/** A decoded tensor of one dtype: `data` is that dtype's typed array. */
export interface TensorOf<D extends TensorDtype> {
  readonly name: string;
  readonly dtype: D;
  readonly dims: number[];
  readonly data: DtypeArrays[D];
}

/** A float32 tensor after decoding. */
export type FloatTensor = TensorOf<typeof FLOAT_DTYPE>;

/** Any decoded tensor; `dtype` tells which typed array `data` is. */
export type DecodedTensor = { [D in TensorDtype]: TensorOf<D> }[TensorDtype];

/** Integer element arrays that travel with encoding `raw`. */
export type RawTensorData = DtypeArrays[RawDtype];

/**
 * Encodes a float32 tensor for the wire. `f32` is lossless and, on little-endian hosts, a view on `data`
 * (do not change `data` until the message is encoded); `f16` halves the bytes; `int8` quarters them; the `-deflate`
 * codecs compress further, and `u8-deflate` sends `f32` when the values are not 8-bit (see codecs.ts).
 */
export function encodeTensor(
  name: string,
  data: Float32Array,
  dims: readonly number[],
  encoding: Codec,
  options: EncodeTensorOptions = {},
): EncodedTensor {
  checkName(name);
  if (!(data instanceof Float32Array)) throw new TypeError(`"data" of tensor "${name}" must be a Float32Array`);
  const shape = checkDims(name, dims, data.length);
  if (!isCodec(encoding)) {
    throw new TypeError(`"encoding" must be one of ${CODECS.join(', ')}; got ${String(encoding)}`);
  }
  if (options.axis !== undefined && options.perChannel !== true) {
    throw new TypeError('"axis" is only meaningful with "perChannel: true"');
  }
  // A codec that cannot represent the values names the one it fell back to (u8-deflate → f32).
  const { encoding: sent = encoding, ...encoded } = CODEC_SPECS[encoding].encode(name, data, shape, options);
  return { name, dtype: FLOAT_DTYPE, dims: shape, encoding: sent, ...encoded };
}

/**
 * Encodes an integer or bool tensor (token ids, masks, indices) with encoding `raw`: little-endian elements, no
 * compression. `dtype` defaults to the array's (BigInt64Array → int64, Int32Array → int32, Uint8Array → uint8); a
 * bool tensor must name it, since bool and uint8 share Uint8Array.
 */
export function encodeRawTensor(
  name: string,
  data: RawTensorData,
  dims: readonly number[],
  dtype: RawDtype | undefined = undefined,
): EncodedTensor {
  checkName(name);
  const type = dtype ?? dtypeOfArray(data);
  if (type === undefined || !DTYPE_SPECS[type].travelsRaw) {
    throw new TypeError(`"data" of tensor "${name}" must be a BigInt64Array, Int32Array or Uint8Array`);
  }
  if (!(data instanceof DTYPE_SPECS[type].array)) {
    throw new TypeError(`"data" of ${type} tensor "${name}" must be a ${DTYPE_SPECS[type].array.name}`);
  }
  const shape = checkDims(name, dims, data.length);
  return { name, dtype: type, dims: shape, encoding: RAW_ENCODING, data: toLittleEndianBytes(data) };
}

/**
 * Encodes a tensor of any wire dtype, as senders of mixed inputs and outputs need: float32 elements in `codec`, the
 * others raw. Pass `dtype` (a decoded tensor's own) whenever it is known: the array's type alone reads a bool tensor
 * as uint8. A `dtype` that disagrees with the array throws TypeError.
 */
export function encodeAnyTensor(
  name: string,
  data: DtypeArray,
  dims: readonly number[],
  codec: Codec,
  dtype: TensorDtype | undefined = undefined,
): EncodedTensor {
  if (dtype === FLOAT_DTYPE || (dtype === undefined && data instanceof Float32Array)) {
    return encodeTensor(name, data as Float32Array, dims, codec);
  }
  return encodeRawTensor(name, data as RawTensorData, dims, dtype);
}

/**
 * Validates a float32 tensor from the wire and reconstructs its values. f32 data at a 4-aligned offset comes back
 * as a view on the received bytes (zero-copy); everything else is a new array. Throws ProtocolError (`bad_dtype`
 * for an integer tensor; see validateEncodedTensor for the rest).
 */
export function decodeTensor(tensor: EncodedTensor, limits?: DecodeLimits): FloatTensor {
  const decoded = decodeAnyTensor(tensor, limits);
  if (decoded.dtype !== FLOAT_DTYPE) {
    throw new ProtocolError(
      ProtocolErrorCode.BadDtype,
      `tensor ${JSON.stringify(decoded.name)}: expected dtype ${FLOAT_DTYPE}, got ${decoded.dtype}`,
    );
  }
  return decoded;
}

/** Like {@link decodeTensor} for any dtype: integer tensors come back as their typed array (views when aligned). */
export function decodeAnyTensor(tensor: EncodedTensor, limits?: DecodeLimits): DecodedTensor {
  const t = validateEncodedTensor(tensor, limits);
  const { name, data } = t;
  const dims = [...t.dims];
  if (t.dtype === FLOAT_DTYPE) {
    // Validation tied a float32 tensor to a codec, and the codec's spec reads it back.
    const values = CODEC_SPECS[t.encoding as Codec].decode(t, dims);
    if (!(values instanceof Float32Array)) {
      throw new ProtocolError(values.code, `tensor ${JSON.stringify(name)}: ${values.message}`);
    }
    return { name, dtype: FLOAT_DTYPE, dims, data: values };
  }
  const array: TypedArrayConstructor<RawTensorData> = DTYPE_SPECS[t.dtype].array;
  return { name, dtype: t.dtype, dims, data: fromLittleEndianBytes(array, data) } as DecodedTensor;
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TENSOR_NAME_LENGTH) {
    throw new TypeError(`"name" must be a string of 1-${MAX_TENSOR_NAME_LENGTH} characters`);
  }
}

// Programmer errors on the sending side: the caller built the array and the dims, so they must agree.
function checkDims(name: string, dims: readonly number[], length: number): number[] {
  if (!Array.isArray(dims) || dims.length > MAX_TENSOR_RANK) {
    throw new RangeError(`"dims" of tensor "${name}" must be an array of at most ${MAX_TENSOR_RANK} sizes`);
  }
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`"dims" of tensor "${name}" must be non-negative safe integers; got [${dims.join(', ')}]`);
  }
  if (elementCount(dims) !== length) {
    throw new RangeError(
      `"dims" [${dims.join(', ')}] of tensor "${name}" describe ${elementCount(dims)} elements but "data" has ${length}`,
    );
  }
  return Array.from(dims, Number);
}
