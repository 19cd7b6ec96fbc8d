// Conversions between the agent's tensors, onnxruntime tensors and wire tensors.
import ort from 'onnxruntime-node';
import {
  allocateArray,
  type DecodedTensor,
  type DtypeArray,
  FLOAT_DTYPE,
  isTensorDtype,
  type TensorSpec,
} from '@cleave/proto';

/**
 * A tensor inside the agent: the same shape as a decoded wire tensor, so cloud outputs need no conversion. Its
 * element types are the wire dtypes (proto's TENSOR_DTYPES).
 */
export type AgentTensor = DecodedTensor;

/** An onnxruntime tensor over the same memory. */
export function toOrtTensor(tensor: AgentTensor): ort.Tensor {
  return new ort.Tensor(tensor.dtype, tensor.data, tensor.dims);
}

/** An agent tensor from an onnxruntime output; throws TypeError for element types the agent cannot carry. */
export function fromOrtTensor(name: string, value: ort.OnnxValue): AgentTensor {
  const tensor = value;
  if (!isTensorDtype(tensor.type)) {
    throw new TypeError(`output "${name}" has element type ${tensor.type}, which the agent cannot carry`);
  }
  // onnxruntime hands each dtype back in the typed array the registry names for it.
  return {
    name,
    dtype: tensor.type,
    dims: Array.from(tensor.dims, Number),
    data: tensor.data as DtypeArray,
  } as AgentTensor;
}

/** Concrete dims of a spec at batch size `batch`: every symbolic dim becomes `batch`. */
export function concreteDims(spec: TensorSpec, batch: number): number[] {
  return spec.shape.map((d) => (typeof d === 'number' && d > 0 ? d : batch));
}

/** A zero-filled tensor matching `spec`, for warm-up runs and cloud probes. */
export function zeroTensor(spec: TensorSpec, batch = 1): AgentTensor {
  const dims = concreteDims(spec, batch);
  const count = dims.reduce((a, b) => a * b, 1);
  // An element type the wire cannot carry gets float32 zeros.
  const dtype = isTensorDtype(spec.dtype) ? spec.dtype : FLOAT_DTYPE;
  return { name: spec.name, dtype, dims, data: allocateArray(dtype, count) } as AgentTensor;
}

/** Number of elements of `dims`. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
