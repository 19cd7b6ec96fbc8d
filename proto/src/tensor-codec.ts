import { fromLittleEndianBytes, toLittleEndianBytes } from './byte-order.js';
import { type DecodeLimits } from './decode-limits.js';
import { decodeFloat16, encodeFloat16 } from './float16.js';
import { dequantizeInt8, quantizeInt8 } from './int8-affine.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import {
  type EncodedTensor,
  elementCount,
  type FloatEncoding,
  FLOAT_ENCODINGS,
  MAX_TENSOR_NAME_LENGTH,
  MAX_TENSOR_RANK,
  validateEncodedTensor,
} from './tensor-validation.js';

/** Options of {@link encodeTensor}. Only int8 reads them. */
export interface EncodeTensorOptions {
  /**
   * Quantize each channel along `axis` with its own scale and zero point instead of one pair for the tensor.
   * Costs ~10 bytes per channel and bounds the error per channel, which helps when channel ranges differ.
   * @default false
   */
  readonly perChannel?: boolean;
  /**
   * Channel axis for `perChannel`; 1 is the channel axis of NCHW activations.
   * @default 1
   */
  readonly axis?: number;
}

/** Channel axis used by per-channel int8 when none is given: C in NCHW. */
export const DEFAULT_CHANNEL_AXIS = 1;

/** A float32 tensor after decoding. */
export interface FloatTensor {
  readonly name: string;
  readonly dtype: 'float32';
  readonly dims: number[];
  readonly data: Float32Array;
}

/** Any decoded tensor; `dtype` tells which typed array `data` is. */
export type DecodedTensor =
  | FloatTensor
  | { readonly name: string; readonly dtype: 'int64'; readonly dims: number[]; readonly data: BigInt64Array }
  | { readonly name: string; readonly dtype: 'int32'; readonly dims: number[]; readonly data: Int32Array }
  | { readonly name: string; readonly dtype: 'uint8'; readonly dims: number[]; readonly data: Uint8Array };

/** Integer element arrays that travel with encoding `raw`. */
export type RawTensorData = BigInt64Array | Int32Array | Uint8Array;

/**
 * Encodes a float32 tensor for the wire. `f32` is lossless and, on little-endian hosts, a view on `data`
 * (do not change `data` until the message is encoded); `f16` halves the bytes; `int8` quarters them.
 */
export function encodeTensor(
  name: string,
  data: Float32Array,
  dims: readonly number[],
  encoding: FloatEncoding,
  options: EncodeTensorOptions = {},
): EncodedTensor {
  checkName(name);
  if (!(data instanceof Float32Array)) throw new TypeError(`"data" of tensor "${name}" must be a Float32Array`);
  const shape = checkDims(name, dims, data.length);
  if (!(FLOAT_ENCODINGS as readonly unknown[]).includes(encoding)) {
    throw new TypeError(`"encoding" must be one of ${FLOAT_ENCODINGS.join(', ')}; got ${String(encoding)}`);
  }
  const { perChannel = false, axis } = options;
  if (axis !== undefined && !perChannel) throw new TypeError('"axis" is only meaningful with "perChannel: true"');

  const base = { name, dtype: 'float32', dims: shape } as const;
  switch (encoding) {
    case 'f32':
      return { ...base, encoding, data: toLittleEndianBytes(data) };
    case 'f16':
      return { ...base, encoding, data: encodeFloat16(data) };
    case 'int8': {
      if (!perChannel) {
        const q = quantizeInt8(data, shape);
        return { ...base, encoding, data: q.bytes, scale: q.scale, zeroPoint: q.zeroPoint };
      }
      const channelAxis = axis ?? DEFAULT_CHANNEL_AXIS;
      if (!Number.isInteger(channelAxis) || channelAxis < 0 || channelAxis >= shape.length) {
        throw new RangeError(
          `"axis" must be an integer in [0, ${shape.length}) for tensor "${name}" with dims [${shape.join(', ')}]; got ${channelAxis}`,
        );
      }
      const q = quantizeInt8(data, shape, channelAxis);
      return { ...base, encoding, data: q.bytes, scale: q.scale, zeroPoint: q.zeroPoint, axis: channelAxis };
    }
  }
}

/**
 * Encodes an integer tensor (token ids, masks, indices) with encoding `raw`: little-endian elements, no
 * compression. The dtype follows the array: BigInt64Array → int64, Int32Array → int32, Uint8Array → uint8.
 */
export function encodeRawTensor(name: string, data: RawTensorData, dims: readonly number[]): EncodedTensor {
  checkName(name);
  const dtype =
    data instanceof BigInt64Array
      ? 'int64'
      : data instanceof Int32Array
        ? 'int32'
        : data instanceof Uint8Array
          ? 'uint8'
          : undefined;
  if (dtype === undefined) {
    throw new TypeError(`"data" of tensor "${name}" must be a BigInt64Array, Int32Array or Uint8Array`);
  }
  const shape = checkDims(name, dims, data.length);
  return { name, dtype, dims: shape, encoding: 'raw', data: toLittleEndianBytes(data) };
}

/**
 * Validates a float32 tensor from the wire and reconstructs its values. f32 data at a 4-aligned offset comes back
 * as a view on the received bytes (zero-copy); everything else is a new array. Throws ProtocolError (`bad_dtype`
 * for an integer tensor; see validateEncodedTensor for the rest).
 */
export function decodeTensor(tensor: EncodedTensor, limits?: DecodeLimits): FloatTensor {
  const decoded = decodeAnyTensor(tensor, limits);
  if (decoded.dtype !== 'float32') {
    throw new ProtocolError(
      ProtocolErrorCode.BadDtype,
      `tensor ${JSON.stringify(decoded.name)}: expected dtype float32, got ${decoded.dtype}`,
    );
  }
  return decoded;
}

/** Like {@link decodeTensor} for any dtype: integer tensors come back as their typed array (views when aligned). */
export function decodeAnyTensor(tensor: EncodedTensor, limits?: DecodeLimits): DecodedTensor {
  const t = validateEncodedTensor(tensor, limits);
  const { name, data } = t;
  const dims = [...t.dims];
  switch (t.dtype) {
    case 'float32': {
      const values =
        t.encoding === 'f32'
          ? fromLittleEndianBytes(Float32Array, data)
          : t.encoding === 'f16'
            ? decodeFloat16(data)
            : dequantizeInt8(data, dims, t.scale ?? [], t.zeroPoint ?? [], t.axis);
      return { name, dtype: 'float32', dims, data: values };
    }
    case 'int64':
      return { name, dtype: 'int64', dims, data: fromLittleEndianBytes(BigInt64Array, data) };
    case 'int32':
      return { name, dtype: 'int32', dims, data: fromLittleEndianBytes(Int32Array, data) };
    case 'uint8':
      return { name, dtype: 'uint8', dims, data };
  }
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
