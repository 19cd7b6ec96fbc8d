import {
  CODEC_SPECS,
  CODECS,
  type CodecProblem,
  isCodec,
  lengthProblem,
  parametersProblem,
  RAW_ENCODING,
  TENSOR_ENCODINGS,
  type TensorEncoding,
} from './codecs.js';
import { type DecodeLimits, resolveDecodeLimits } from './decode-limits.js';
import { DTYPE_SPECS, isTensorDtype, TENSOR_DTYPES, type TensorDtype } from './dtypes.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import { showValue as show } from './schema-issues.js';

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

/** The encodings a tensor of `dtype` may travel in: the float codecs for float32, raw for the integer dtypes. */
export function encodingsFor(dtype: TensorDtype): readonly TensorEncoding[] {
  return DTYPE_SPECS[dtype].travelsRaw ? [RAW_ENCODING] : CODECS;
}

/**
 * Bytes per element of `dtype` in `encoding`, or undefined when that pair is not allowed (or the codec's size is
 * measured rather than fixed).
 */
export function elementBytes(dtype: TensorDtype, encoding: TensorEncoding): number | undefined {
  if (!encodingsFor(dtype).includes(encoding)) return undefined;
  if (!isCodec(encoding)) return DTYPE_SPECS[dtype].bytes;
  const width = CODEC_SPECS[encoding].bytesPerElement;
  return width === 'measured' ? undefined : width;
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

  if (!isTensorDtype(dtype)) {
    throw problem(
      ProtocolErrorCode.BadDtype,
      `unknown dtype ${show(dtype)}; expected one of ${TENSOR_DTYPES.join(', ')}`,
    );
  }
  if (!isEncoding(encoding)) {
    throw problem(
      ProtocolErrorCode.BadEncoding,
      `unknown encoding ${show(encoding)}; expected one of ${TENSOR_ENCODINGS.join(', ')}`,
    );
  }
  if (!encodingsFor(dtype).includes(encoding)) {
    throw problem(
      ProtocolErrorCode.BadEncoding,
      `encoding "${encoding}" is not valid for dtype "${dtype}"; use ${encodingsFor(dtype).join(', ')}`,
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
  const found = dataProblem(dtype, encoding, shape, count, { data, scale, zeroPoint, axis });
  if (found !== undefined) throw problem(found.code, found.message);
  return tensor as EncodedTensor;
}

// Byte length first, then the parameters: a raw tensor by its element size, a float tensor by its codec's spec.
function dataProblem(
  dtype: TensorDtype,
  encoding: TensorEncoding,
  dims: readonly number[],
  count: number,
  fields: { data: Uint8Array; scale: unknown; zeroPoint: unknown; axis: unknown },
): CodecProblem | undefined {
  if (!isCodec(encoding)) {
    return (
      lengthProblem(encoding, DTYPE_SPECS[dtype].bytes, dims, count, fields) ?? parametersProblem(encoding, fields)
    );
  }
  const spec = CODEC_SPECS[encoding];
  const width = spec.bytesPerElement;
  return (
    (width === 'measured' ? undefined : lengthProblem(encoding, width, dims, count, fields)) ?? spec.check(dims, fields)
  );
}

function isEncoding(value: unknown): value is TensorEncoding {
  return (TENSOR_ENCODINGS as readonly unknown[]).includes(value);
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
