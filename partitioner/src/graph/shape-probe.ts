import ort from 'onnxruntime-node';
import { encodeOnnxModel, type TensorSpec } from '../onnx/onnx-model.js';
import { OnnxSchema, withFields } from '../onnx/onnx-schema.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';
import { assertInputShapesFixed } from '../onnx/input-shapes.js';
import { dtypeBytes, syntheticInput } from '../runtime/ort-tensors.js';
import type { GraphIndex } from './graph-index.js';

/** What a probe run learned about one intermediate tensor. */
export interface ProbedTensor {
  readonly spec: TensorSpec;
  /** Bytes for one sample, in the tensor's own element type. */
  readonly bytesPerSample: number;
  /** Elements for one sample. */
  readonly elementsPerSample: number;
  /** Whether dim 0 scales with the batch (false for shape tensors and other batch-independent values). */
  readonly batched: boolean;
}

/**
 * Learns the element type and shape of every non-static tensor by running the model in
 * onnxruntime with all of them exposed as outputs, at batch 1 and batch 2. Exported models often
 * carry no value_info, and measured shapes are the ground truth anyway. Throws OnnxModelError
 * `dynamic_input_shape` (naming --input-shape) when an input has symbolic dims besides the batch.
 */
export async function probeTensorShapes(index: GraphIndex): Promise<Map<string, ProbedTensor>> {
  const { model } = index;
  assertInputShapesFixed(model);
  const names = [...index.kind].filter(([, k]) => k !== 'static').map(([n]) => n);
  const known = new Set(model.graph.output.map((o) => o.name));
  const proto = withFields(OnnxSchema.ModelProto, model.proto, {
    graph: withFields(OnnxSchema.GraphProto, model.graph, {
      output: [...model.graph.output, ...names.filter((n) => !known.has(n)).map((name) => ({ name }))],
    }),
  });
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeOnnxModel(proto), { intraOpNumThreads: 1 });
  } catch (err) {
    throw new OnnxModelError(
      OnnxModelErrorCode.RuntimeRejected,
      `${model.source}: onnxruntime cannot load the model: ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  try {
    const runAt = async (batch: number): Promise<ort.InferenceSession.ReturnType> => {
      const feeds = Object.fromEntries(model.inputs.map((i) => [i.name, syntheticInput(i, batch, model.source)]));
      try {
        return await session.run(feeds);
      } catch (err) {
        throw new OnnxModelError(
          OnnxModelErrorCode.RuntimeRejected,
          `${model.source}: onnxruntime failed to run the model: ${(err as Error).message.split('\n')[0]}`,
          { cause: err },
        );
      }
    };
    const [one, two] = [await runAt(1), await runAt(2)];
    const probed = new Map<string, ProbedTensor>();
    for (const name of names) {
      const a = one[name];
      const b = two[name];
      if (a === undefined || b === undefined) continue;
      const batched = a.dims.length > 0 && b.dims[0] === 2 * (a.dims[0] ?? 0) && a.dims[0] === 1;
      const elements = a.dims.reduce((x, y) => x * y, 1);
      const dtype = a.type === 'float32' ? 'float32' : String(a.type);
      probed.set(name, {
        spec: { name, dtype, shape: a.dims.map((d, i) => (i === 0 && batched ? 'batch' : d)) },
        bytesPerSample: elements * dtypeBytes(dtype),
        elementsPerSample: elements,
        batched,
      });
    }
    return probed;
  } finally {
    await session.release();
  }
}
