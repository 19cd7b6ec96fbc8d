import { type DecodeLimits, resolveDecodeLimits } from './decode-limits.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';

/** Logical element types a receiver can reconstruct. Float tensors may be compressed; the others travel raw. */
export const TensorDtype = {
  Float32: 'float32',
  Int64: 'int64',
  Int32: 'int32',
  Uint8: 'uint8',
} as const;
/** One of {@link TensorDtype}. */
export type TensorDtype = (typeof TensorDtype)[keyof typeof TensorDtype];

/** How elements are laid out in `data`. f32, f16 and int8 are for float32 tensors; raw is for the integer dtypes. */
export const TensorEncoding = {
  F32: 'f32',
  F16: 'f16',
  Int8: 'int8',
  Raw: 'raw',
} as const;
/** One of {@link TensorEncoding}. */
export type TensorEncoding = (typeof TensorEncoding)[keyof typeof TensorEncoding];

/** Encodings of a float32 tensor: the codecs the planner and the policy choose between. */
export type FloatEncoding = Exclude<TensorEncoding, 'raw'>;

/** The float encodings, smallest precision loss first. */
export const FLOAT_ENCODINGS: readonly FloatEncoding[] = Object.freeze(['f32', 'f16', 'int8']);

/** Most dims a tensor may have on the wire. */
export const MAX_TENSOR_RANK = 8;

/** Longest tensor name accepted on the wire. */
export const MAX_TENSOR_NAME_LENGTH = 1024;

/**
 * A tensor on the wire. `data` holds the elements in row-major order as little-endian bytes in `encoding`.
 * int8 tensors also carry one `scale` / `zeroPoint` (per tensor) or one per channel along `axis`.
 */
export interface EncodedTensor {
  name: string;
  dtype: TensorDtype;
  dims: number[];
  encoding: TensorEncoding;
  data: Uint8Array;
  scale?: number[];
  zeroPoint?: number[];
  axis?: number;
}

const ELEMENT_BYTES: Readonly<Record<TensorDtype, Partial<Record<TensorEncoding, number>>>> = {
  float32: { f32: 4, f16: 2, int8: 1 },
  int64: { raw: 8 },
  int32: { raw: 4 },
  uint8: { raw: 1 },
};

/** Payload bytes of `count` float32 elements in `encoding`, without msgpack framing or int8 scale/zero points. */
export function tensorWireBytes(count: number, encoding: FloatEncoding): number {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`"count" must be a non-negative safe integer; got ${String(count)}`);
  }
  const width = ELEMENT_BYTES.float32[encoding];
  if (width === undefined) throw new TypeError(`"encoding" must be one of f32, f16, int8; got ${String(encoding)}`);
  return count * width;
}

/** Bytes per element of `dtype` in `encoding`, or undefined when that pair is not allowed. */
export function elementBytes(dtype: TensorDtype, encoding: TensorEncoding): number | undefined {
  return ELEMENT_BYTES[dtype]?.[encoding];
}

/** Number of elements of a tensor with `dims` (1 for a scalar). Assumes dims were validated. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Checks an untrusted tensor without touching its elements: known dtype and encoding, at most 8 non-negative
 * safe-integer dims, element count within `limits.maxElements`, byte length = count × element size, and
 * valid int8 quantization parameters. Returns it typed; throws ProtocolError naming the tensor otherwise.
 */
export function validateEncodedTensor(tensor: unknown, limits?: DecodeLimits): EncodedTensor {
  const { maxElements } = resolveDecodeLimits(limits);
  if (typeof tensor !== 'object' || tensor === null || Array.isArray(tensor)) {
    throw new ProtocolError(ProtocolErrorCode.BadMessage, 'tensor must be a map');
  }
  const { name, dtype, encoding, dims, data, scale, zeroPoint, axis } = tensor as Record<keyof EncodedTensor, unknown>;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TENSOR_NAME_LENGTH) {
    throw new ProtocolError(
      ProtocolErrorCode.BadMessage,
      `tensor name must be a string of 1-${MAX_TENSOR_NAME_LENGTH} characters`,
    );
  }
  const problem = (code: ProtocolErrorCode, text: string) =>
    new ProtocolError(code, `tensor ${JSON.stringify(name)}: ${text}`);

  if (!isDtype(dtype)) {
    throw problem(ProtocolErrorCode.BadDtype, `unknown dtype ${show(dtype)}; expected one of ${DTYPES.join(', ')}`);
  }
  if (!isEncoding(encoding)) {
    throw problem(
      ProtocolErrorCode.BadEncoding,
      `unknown encoding ${show(encoding)}; expected one of ${ENCODINGS.join(', ')}`,
    );
  }
  const width = elementBytes(dtype, encoding);
  if (width === undefined) {
    const allowed = Object.keys(ELEMENT_BYTES[dtype]).join(', ');
    throw problem(
      ProtocolErrorCode.BadEncoding,
      `encoding "${encoding}" is not valid for dtype "${dtype}"; use ${allowed}`,
    );
  }

  if (!Array.isArray(dims)) throw problem(ProtocolErrorCode.BadDims, 'dims must be an array');
  if (dims.length > MAX_TENSOR_RANK) {
    throw problem(ProtocolErrorCode.BadDims, `has ${dims.length} dims; at most ${MAX_TENSOR_RANK} are allowed`);
  }
  const shape: number[] = [];
  for (const [i, d] of (dims as unknown[]).entries()) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw problem(ProtocolErrorCode.BadDims, `dims[${i}] = ${show(d)} is not a non-negative safe integer`);
    }
    shape.push(d);
  }
  const count = boundedCount(shape, maxElements);
  if (count === undefined) {
    throw problem(ProtocolErrorCode.TooLarge, `dims [${shape.join(', ')}] exceed the limit of ${maxElements} elements`);
  }

  if (!(data instanceof Uint8Array)) throw problem(ProtocolErrorCode.BadMessage, 'data must be binary (msgpack bin)');
  if (data.byteLength !== count * width) {
    throw problem(
      ProtocolErrorCode.BadLength,
      `data has ${data.byteLength} bytes but dims [${shape.join(', ')}] in ${encoding} need ${count * width}`,
    );
  }
  const quantizationProblem = checkQuantization(encoding, shape, scale, zeroPoint, axis);
  if (quantizationProblem !== undefined) throw problem(ProtocolErrorCode.BadQuantization, quantizationProblem);
  return tensor as EncodedTensor;
}

const DTYPES = Object.values(TensorDtype);
const ENCODINGS = Object.values(TensorEncoding);

function isDtype(value: unknown): value is TensorDtype {
  return (DTYPES as unknown[]).includes(value);
}

function isEncoding(value: unknown): value is TensorEncoding {
  return (ENCODINGS as unknown[]).includes(value);
}

// Multiplies dims, stopping as soon as the product passes the limit, so [1e9, 1e9, 1e9] cannot overflow.
function boundedCount(dims: readonly number[], max: number): number | undefined {
  if (dims.includes(0)) return 0;
  let count = 1;
  for (const d of dims) {
    count *= d;
    if (count > max) return undefined;
  }
  return count;
}

// Returns what is wrong with the int8 parameters, or undefined when they fit the encoding and dims.
function checkQuantization(
  encoding: TensorEncoding,
  dims: readonly number[],
  scale: unknown,
  zeroPoint: unknown,
  axis: unknown,
): string | undefined {
  if (encoding !== 'int8') {
    const present = scale !== undefined || zeroPoint !== undefined || axis !== undefined;
    return present ? `scale, zeroPoint and axis are only valid with encoding int8, not ${encoding}` : undefined;
  }
  let channels = 1;
  if (axis !== undefined) {
    if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
      return `axis ${show(axis)} must be an integer in [0, ${dims.length})`;
    }
    channels = dims[axis] ?? 0;
  }
  const what = axis === undefined ? '1 entry (per tensor)' : `${channels} entries (one per channel on axis ${axis})`;
  if (!Array.isArray(scale) || scale.length !== channels) return `scale must be an array of ${what}`;
  if (!Array.isArray(zeroPoint) || zeroPoint.length !== channels) return `zeroPoint must be an array of ${what}`;
  const badScale = (scale as unknown[]).findIndex((s) => typeof s !== 'number' || !Number.isFinite(s) || s <= 0);
  if (badScale >= 0) return `scale[${badScale}] = ${show(scale[badScale])} must be finite and > 0`;
  const badZero = (zeroPoint as unknown[]).findIndex(
    (z) => typeof z !== 'number' || !Number.isInteger(z) || z < -128 || z > 127,
  );
  if (badZero >= 0) return `zeroPoint[${badZero}] = ${show(zeroPoint[badZero])} must be an integer in [-128, 127]`;
  return undefined;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value === 'bigint' ? `${value}n` : Array.isArray(value) ? 'an array' : typeof value;
}
