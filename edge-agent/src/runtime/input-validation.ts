// Checks a request's tensors against the model's inputs before anything runs. Every problem becomes a 4xx with a
// message that names the input and says what was expected; nothing malformed reaches onnxruntime.
import {
  arrayFromNumbers,
  DTYPE_SPECS,
  type DtypeArray,
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
  if (data instanceof DTYPE_SPECS[dtype].array) return data;
  if (data instanceof Uint8Array) return fromBytes(name, dtype, data);
  if (!Array.isArray(data)) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" data must be a flat array of numbers (or little-endian ${dtype} bytes in msgpack)`,
    );
  }
  const bad = data.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" data[${bad}] is ${describe(data[bad])}, not a finite number (nested arrays are not accepted: flatten and give dims)`,
    );
  }
  const numbers = data as number[];
  const nonInteger = DTYPE_SPECS[dtype].travelsRaw ? numbers.findIndex((x) => !Number.isInteger(x)) : -1;
  if (nonInteger >= 0) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadDtype,
      `input "${name}" is ${dtype}; data[${nonInteger}] is not an integer`,
    );
  }
  return arrayFromNumbers(dtype, numbers);
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
  // Copied: msgpack bins sit at arbitrary offsets, and typed arrays need aligned memory.
  const copy = bytes.slice().buffer;
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
  return typeof value === 'string' ? `a string` : typeof value;
}
