import ort from 'onnxruntime-node';
import type { TensorSpec } from '../onnx/onnx-model.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';

/** Bytes per element of the ONNX element types Cleave feeds and measures. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Concrete dims for a spec at a given batch size: the first symbolic dim is the batch. */
export function concreteDims(spec: TensorSpec, batch: number, source: string): number[] {
  let batchUsed = false;
  return spec.shape.map((d) => {
    if (typeof d === 'number' && d > 0) return d;
    if (!batchUsed) {
      batchUsed = true;
      return batch;
    }
    throw new OnnxModelError(
      OnnxModelErrorCode.Unsupported,
      `${source}: unsupported: input '${spec.name}' has more than one symbolic dim [${spec.shape.join(', ')}]; only a dynamic batch is supported`,
    );
  });
}

/** A deterministic pseudo-random input tensor (values in [0, 1)) for profiling and probing. */
export function syntheticInput(spec: TensorSpec, batch: number, source: string, seed = 1): ort.Tensor {
  const dims = concreteDims(spec, batch, source);
  const count = dims.reduce((a, b) => a * b, 1);
  let state = seed >>> 0 || 1;
  const next = (): number => {
    // xorshift32: cheap and reproducible; the values only need to be plausible activations.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  switch (spec.dtype) {
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from({ length: count }, next), dims);
    case 'int64':
      return new ort.Tensor('int64', new BigInt64Array(count), dims);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(count), dims);
    case 'uint8':
      return new ort.Tensor(
        'uint8',
        Uint8Array.from({ length: count }, () => Math.floor(next() * 256)),
        dims,
      );
    default:
      throw new OnnxModelError(
        OnnxModelErrorCode.Unsupported,
        `${source}: unsupported: input '${spec.name}' has element type ${spec.dtype}`,
      );
  }
}
