/**
 * Public entry of the Cleave partitioner. Today: datasets and model evaluation; cut analysis,
 * graph surgery, profiling and planning arrive with the partitioner issue.
 */
export {
  DatasetError,
  DatasetErrorCode,
  parseIdx,
  readIdxFile,
  type IdxArray,
  type IdxDType,
} from './datasets/idx-reader.js';
export {
  DEBIAN_FASHION_MNIST_DIR,
  loadIdxImagesWithLabels,
  loadMnistSplit,
  toUnitFloatBatch,
  type LabelledImages,
  type MnistSplit,
} from './datasets/labelled-images.js';
export {
  measureClassifierAccuracy,
  type ClassifierAccuracy,
  type MeasureAccuracyOptions,
  type OutputAccuracy,
} from './evaluate/classifier-accuracy.js';
export { OnnxModelError, OnnxModelErrorCode } from './onnx/onnx-errors.js';
export { loadOnnxModel, parseOnnxModel, encodeOnnxModel, type OnnxModel, type TensorSpec } from './onnx/onnx-model.js';
export { indexGraph, type GraphIndex, type TensorKind } from './graph/graph-index.js';
export { findCuts, type Cut, type CutOrigin } from './graph/cut-analysis.js';
export { probeTensorShapes, type ProbedTensor } from './graph/shape-probe.js';
export { splitAtCut, type SplitModels, type SplitOptions } from './graph/graph-surgery.js';
