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
