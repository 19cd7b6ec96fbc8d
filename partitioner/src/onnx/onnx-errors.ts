import { CodedError } from '@cleave/proto';

/** Why an ONNX model was rejected. */
export const OnnxModelErrorCode = {
  NotFound: 'not_found',
  NotOnnx: 'not_onnx',
  Unsupported: 'unsupported',
  NoInputs: 'no_inputs',
  NoOutputs: 'no_outputs',
  DanglingReference: 'dangling_reference',
  RuntimeRejected: 'runtime_rejected',
  BadCut: 'bad_cut',
  /** An --input-shape flag that does not parse or does not fit the model's inputs. */
  BadInputShape: 'bad_input_shape',
  /** An input with symbolic dims besides the batch: fix them with --input-shape. */
  DynamicInputShape: 'dynamic_input_shape',
  /** A split disagrees with the full model at every onnxruntime optimization level tried. */
  Inconsistent: 'inconsistent',
} as const;
/** One of {@link OnnxModelErrorCode}. */
export type OnnxModelErrorCode = (typeof OnnxModelErrorCode)[keyof typeof OnnxModelErrorCode];

/** A model that Cleave cannot load, split or run. The message names the file and the problem. */
export class OnnxModelError extends CodedError<OnnxModelErrorCode> {
  override readonly name = 'OnnxModelError';
}
