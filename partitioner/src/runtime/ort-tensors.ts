import ort from 'onnxruntime-node';
import { allocateArray, elementTypeBytes, isTensorDtype, seededRandom } from '@cleave/proto';
import type { TensorSpec } from '../onnx/onnx-model.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';
import { dynamicInputShapeError } from '../onnx/input-shapes.js';

/** Bytes per element of `dtype`; 8, the widest, for a type Cleave has no name for, so sizes are never underestimated. */
export function dtypeBytes(dtype: string): number {
  return elementTypeBytes(dtype) ?? 8;
}

/** Concrete dims for a spec at a given batch size: the first symbolic dim is the batch. */
export function concreteDims(spec: TensorSpec, batch: number, source: string): number[] {
  let batchUsed = false;
  return spec.shape.map((d) => {
    if (typeof d === 'number' && d > 0) return d;
    if (!batchUsed) {
      batchUsed = true;
      return batch;
    }
    throw dynamicInputShapeError(spec, source);
  });
}

/** A deterministic pseudo-random input tensor (values in [0, 1)) for profiling and probing. */
export function syntheticInput(spec: TensorSpec, batch: number, source: string, seed = 1): ort.Tensor {
  const dims = concreteDims(spec, batch, source);
  const count = dims.reduce((a, b) => a * b, 1);
  // Reproducible values; they only need to be plausible activations.
  const next = seededRandom(seed);
  if (!isTensorDtype(spec.dtype)) {
    throw new OnnxModelError(
      OnnxModelErrorCode.Unsupported,
      `${source}: unsupported: input '${spec.name}' has element type ${spec.dtype}`,
    );
  }
  // Floats and bytes get plausible values; wider integers (ids, indices) stay 0, which is always in range.
  const data = allocateArray(spec.dtype, count);
  if (data instanceof Float32Array) for (let i = 0; i < count; i++) data[i] = next();
  // A bool holds only 0 or 1; onnxruntime reads any other byte as true, so keep the values meaningful.
  else if (spec.dtype === 'bool') for (let i = 0; i < count; i++) (data as Uint8Array)[i] = next() < 0.5 ? 0 : 1;
  else if (data instanceof Uint8Array) for (let i = 0; i < count; i++) data[i] = Math.floor(next() * 256);
  return new ort.Tensor(spec.dtype, data, dims);
}
