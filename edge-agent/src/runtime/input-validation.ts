// Checks a request's tensors against the model's inputs before anything runs. Every problem becomes a 4xx with a
// message that names the input and says what was expected; nothing malformed reaches onnxruntime.
import {
  allocateArray,
  arrayFromNumbers,
  DTYPE_SPECS,
  type DtypeArray,
  FLOAT_DTYPE,
  firstNonFinite,
  HOST_IS_LITTLE_ENDIAN,
  isTensorDtype,
  TENSOR_DTYPES,
  type TensorDtype,
  type TensorSpec,
} from '@cleave/proto';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import { type AgentTensor, elementCount } from './tensor-io.js';

/** A tensor as a caller sent it, not yet trusted: from JSON, msgpack or code. */
export interface RequestTensor {
  readonly dims: unknown;
  /** @default the model input's dtype */
  readonly dtype?: unknown;
  /** A flat array of numbers, a typed array, or little-endian element bytes (msgpack bin). */
  readonly data: unknown;
}

/** Limits applied while checking. */
export interface InputLimits {
  readonly maxElements: number;
}

/**
 * Returns the inputs as tensors in the model's input order. Throws EdgeAgentError: `bad_input` (names), `bad_shape`
 * (dims, data length, batch mismatch), `bad_dtype` (element type or non-numbers), `too_large` (element limit).
 */
export function checkInputs(
  specs: readonly TensorSpec[],
  inputs: Readonly<Record<string, RequestTensor>>,
  limits: InputLimits,
): AgentTensor[] {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new EdgeAgentError(EdgeErrorCode.BadBody, '"inputs" must be an object mapping input names to tensors');
  }
  const expected = specs.map((s) => s.name);
  const given = Object.keys(inputs);
  const missing = expected.filter((n) => !given.includes(n));
  const extra = given.filter((n) => !expected.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing [${missing.join(', ')}]` : undefined,
      extra.length > 0 ? `unknown [${extra.slice(0, 8).join(', ')}]` : undefined,
    ].filter(Boolean);
    throw new EdgeAgentError(
      EdgeErrorCode.BadInput,
      `the model's inputs are [${expected.join(', ')}]; the request has ${parts.join(' and ')}`,
    );
  }
  let batch: number | undefined;
  return specs.map((spec) => {
    const tensor = checkOne(spec, inputs[spec.name]!, limits);
    // Symbolic dims are the batch, and a request has one batch size across its inputs.
    spec.shape.forEach((d, i) => {
      if (typeof d === 'number' && d > 0) return;
      const size = tensor.dims[i]!;
      if (batch !== undefined && size !== batch) {
        throw new EdgeAgentError(
          EdgeErrorCode.BadShape,
          `input "${spec.name}" has batch ${size} but another input has ${batch}; inputs must share the batch size`,
        );
      }
      batch = size;
    });
    return tensor;
  });
}

function checkOne(spec: TensorSpec, raw: RequestTensor, limits: InputLimits): AgentTensor {
  const name = spec.name;
  if (typeof raw !== 'object' || raw === null) {
    throw new EdgeAgentError(EdgeErrorCode.BadBody, `input "${name}" must be an object { dims, data, dtype? }`);
  }
  if (!isTensorDtype(spec.dtype)) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" is ${spec.dtype}, which this agent cannot feed (it supports ${TENSOR_DTYPES.join(', ')})`,
    );
  }
  const dtype = raw.dtype ?? spec.dtype;
  if (dtype !== spec.dtype) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" must be ${spec.dtype}; got ${typeof dtype === 'string' ? dtype.slice(0, 32) : typeof dtype}`,
    );
  }
  const shape = `[${spec.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 'N')).join(', ')}]`;
  const dims = raw.dims;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
    throw new EdgeAgentError(EdgeErrorCode.BadShape, `input "${name}" needs dims ${shape} as positive integers`);
  }
  const fits =
    dims.length === spec.shape.length && spec.shape.every((d, i) => !(typeof d === 'number' && d > 0) || d === dims[i]);
  if (!fits) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadShape,
      `input "${name}" must have shape ${shape}; got [${dims.slice(0, 8).join(', ')}]`,
    );
  }
  const shapeDims = dims as number[];
  const count = shapeDims.reduce((a, b) => (a > limits.maxElements ? a : a * b), 1);
  if (count > limits.maxElements) {
    throw new EdgeAgentError(
      EdgeErrorCode.TooLarge,
      `input "${name}" has more than ${limits.maxElements} elements; send smaller batches`,
    );
  }
  const data = toTypedArray(name, spec.dtype, raw.data);
  if (data.length !== elementCount(shapeDims)) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadShape,
      `input "${name}" has ${data.length} values but dims [${shapeDims.join(', ')}] need ${count}`,
    );
  }
  return { name, dtype: spec.dtype, dims: [...shapeDims], data } as AgentTensor;
}

function toTypedArray(name: string, dtype: TensorDtype, data: unknown): DtypeArray {
  let array: DtypeArray;
  if (data instanceof DTYPE_SPECS[dtype].array) array = data;
  else if (data instanceof Uint8Array) array = fromBytes(name, dtype, data);
  else if (Array.isArray(data)) return fromValues(name, dtype, data as unknown[]);
  else {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" data must be a flat array of ${valueKind(dtype)} (or little-endian ${dtype} bytes in msgpack)`,
    );
  }
  // Bytes and typed arrays carry any bit pattern: what JSON cannot say (NaN, Infinity, a bool of 7) is checked here.
  checkElements(name, dtype, array);
  return array;
}

// What a JSON or msgpack array may hold for each dtype, for error messages.
function valueKind(dtype: TensorDtype): string {
  if (dtype === 'bool') return 'booleans (true/false or 0/1)';
  if (dtype === 'int64') return 'integers (numbers, or decimal strings beyond 2^53)';
  return dtype === FLOAT_DTYPE ? 'finite numbers' : 'integers';
}

const INT_RANGES: Readonly<Partial<Record<TensorDtype, readonly [number, number]>>> = {
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^[+-]?\d{1,20}$/;

function fromValues(name: string, dtype: TensorDtype, values: readonly unknown[]): DtypeArray {
  const fail = (i: number, what: string) =>
    new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" is ${dtype}; data[${i}] ${what} (nested arrays are not accepted: flatten and give dims)`,
    );
  if (dtype === 'bool') {
    const out = allocateArray(dtype, values.length);
    values.forEach((x, i) => {
      if (x === true || x === 1) out[i] = 1;
      else if (x === false || x === 0) out[i] = 0;
      else throw fail(i, `is ${describe(x)}, not true, false, 0 or 1`);
    });
    return out;
  }
  if (dtype === 'int64') {
    const out = allocateArray(dtype, values.length);
    values.forEach((x, i) => {
      let v: bigint;
      if (typeof x === 'bigint') v = x;
      else if (typeof x === 'string' && DECIMAL.test(x.trim())) v = BigInt(x.trim());
      else if (typeof x === 'number' && Number.isSafeInteger(x)) v = BigInt(x);
      else if (typeof x === 'number' && Number.isInteger(x)) {
        throw fail(i, `is ${x}, beyond 2^53 where JSON numbers lose digits: send it as a decimal string`);
      } else if (typeof x === 'number' && Number.isFinite(x)) throw fail(i, `is not an integer: ${x}`);
      else throw fail(i, `is ${describe(x)}, not an integer or a decimal string`);
      if (v < INT64_MIN || v > INT64_MAX) throw fail(i, `is ${v}, outside the int64 range`);
      out[i] = v;
    });
    return out;
  }
  const bad = values.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) throw fail(bad, `is ${describe(values[bad])}, not a finite number`);
  const numbers = values as number[];
  const range = INT_RANGES[dtype];
  if (range !== undefined) {
    const nonInteger = numbers.findIndex((x) => !Number.isInteger(x));
    if (nonInteger >= 0) throw fail(nonInteger, `is not an integer: ${numbers[nonInteger]}`);
    const outside = numbers.findIndex((x) => x < range[0] || x > range[1]);
    if (outside >= 0) {
      throw fail(outside, `is ${numbers[outside]}, outside the ${dtype} range [${range[0]}, ${range[1]}]`);
    }
  }
  return arrayFromNumbers(dtype, numbers);
}

function checkElements(name: string, dtype: TensorDtype, array: DtypeArray): void {
  if (array instanceof Float32Array) {
    const bad = firstNonFinite(array);
    if (bad >= 0) {
      throw new EdgeAgentError(
        EdgeErrorCode.BadDtype,
        `input "${name}" is float32; element ${bad} is ${String(array[bad])}: every value must be finite`,
      );
    }
  } else if (dtype === 'bool') {
    const bad = (array as Uint8Array).findIndex((x) => x > 1);
    if (bad >= 0) {
      throw new EdgeAgentError(
        EdgeErrorCode.BadDtype,
        `input "${name}" is bool; element ${bad} is the byte ${array[bad]}, not 0 or 1`,
      );
    }
  }
}

function fromBytes(name: string, dtype: TensorDtype, bytes: Uint8Array): DtypeArray {
  const { array, bytes: width } = DTYPE_SPECS[dtype];
  if (bytes.byteLength % width !== 0) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadShape,
      `input "${name}" has ${bytes.byteLength} data bytes, not a whole number of ${dtype} elements`,
    );
  }
  if (width === 1) return new array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Copied: msgpack bins sit at arbitrary offsets, and typed arrays need aligned memory. Through Uint8Array's own
  // slice: a bin decoded from a Node Buffer (a NATS message) is a Buffer, whose slice() is a view on the whole pooled
  // socket buffer, and reading that from offset 0 fed the model bytes of other messages.
  const copy = Uint8Array.prototype.slice.call(bytes).buffer;
  const view = new array(copy, 0, bytes.byteLength / width);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(new Uint8Array(copy), width);
  return view;
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? `a string` : typeof value;
}
