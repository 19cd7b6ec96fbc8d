// Conversions between the agent's tensors, onnxruntime tensors and wire tensors.
import ort from 'onnxruntime-node';
import {
  type DecodedTensor,
  encodeRawTensor,
  encodeTensor,
  type EncodedTensor,
  type FloatEncoding,
  type TensorSpec,
} from '@cleave/proto';

/** A tensor inside the agent: the same shape as a decoded wire tensor, so cloud outputs need no conversion. */
export type AgentTensor = DecodedTensor;

/** Element types the agent accepts, returns and sends. */
export type AgentDtype = AgentTensor['dtype'];

/** The element types the agent handles, as listed in error messages. */
export const AGENT_DTYPES: readonly AgentDtype[] = Object.freeze(['float32', 'int64', 'int32', 'uint8']);

/** True when `dtype` is one the agent handles. */
export function isAgentDtype(dtype: string): dtype is AgentDtype {
  return (AGENT_DTYPES as readonly string[]).includes(dtype);
}

/** An onnxruntime tensor over the same memory. */
export function toOrtTensor(tensor: AgentTensor): ort.Tensor {
  return new ort.Tensor(tensor.dtype, tensor.data, tensor.dims);
}

/** An agent tensor from an onnxruntime output; throws TypeError for element types the agent cannot carry. */
export function fromOrtTensor(name: string, value: ort.OnnxValue): AgentTensor {
  const tensor = value;
  const dims = Array.from(tensor.dims, Number);
  switch (tensor.type) {
    case 'float32':
      return { name, dtype: 'float32', dims, data: tensor.data as Float32Array };
    case 'int64':
      return { name, dtype: 'int64', dims, data: tensor.data as BigInt64Array };
    case 'int32':
      return { name, dtype: 'int32', dims, data: tensor.data as Int32Array };
    case 'uint8':
      return { name, dtype: 'uint8', dims, data: tensor.data as Uint8Array };
    default:
      throw new TypeError(`output "${name}" has element type ${tensor.type}, which the agent cannot carry`);
  }
}

/** A wire tensor: float32 in `codec`, integers raw. */
export function encodeForWire(tensor: AgentTensor, codec: FloatEncoding): EncodedTensor {
  return tensor.dtype === 'float32'
    ? encodeTensor(tensor.name, tensor.data, tensor.dims, codec)
    : encodeRawTensor(tensor.name, tensor.data, tensor.dims);
}

/** Concrete dims of a spec at batch size `batch`: every symbolic dim becomes `batch`. */
export function concreteDims(spec: TensorSpec, batch: number): number[] {
  return spec.shape.map((d) => (typeof d === 'number' && d > 0 ? d : batch));
}

/** A zero-filled tensor matching `spec`, for warm-up runs and cloud probes. */
export function zeroTensor(spec: TensorSpec, batch = 1): AgentTensor {
  const dims = concreteDims(spec, batch);
  const count = dims.reduce((a, b) => a * b, 1);
  switch (spec.dtype) {
    case 'int64':
      return { name: spec.name, dtype: 'int64', dims, data: new BigInt64Array(count) };
    case 'int32':
      return { name: spec.name, dtype: 'int32', dims, data: new Int32Array(count) };
    case 'uint8':
      return { name: spec.name, dtype: 'uint8', dims, data: new Uint8Array(count) };
    default:
      return { name: spec.name, dtype: 'float32', dims, data: new Float32Array(count) };
  }
}

/** Number of elements of `dims`. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
