import ort from 'onnxruntime-node';
import type { OnnxModel } from '@cleave/partitioner';

/** A deterministic batch-1 float input for every model input, identical in every bench process. */
export function benchInput(model: OnnxModel): Record<string, ort.Tensor> {
  return Object.fromEntries(
    model.inputs.map((spec) => {
      const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2);
      return [spec.name, new ort.Tensor('float32', data, dims)];
    }),
  );
}
