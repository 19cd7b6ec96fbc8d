/**
 * Public entry of the Cleave partitioner. Today: datasets and model evaluation; cut analysis,
 * graph surgery, profiling and planning arrive with the partitioner issue.
 */
export { DatasetError, DatasetErrorCode, type IdxArray, type IdxDType } from './datasets/idx-reader.js';
export {
  DEBIAN_FASHION_MNIST_DIR,
  loadMnistSplit,
  toUnitFloatBatch,
  type LabelledImages,
  type MnistSplit,
} from './datasets/labelled-images.js';
export { type CalibrationData } from './datasets/calibration-data.js';
export {
  describeCalibrationSource,
  isIdxDirectory,
  loadCalibrationSet,
  type CalibrationInput,
  type CalibrationSource,
  type LoadCalibrationOptions,
} from './datasets/load-calibration.js';
export {
  imageTarget,
  preprocessImage,
  type CalibrationPreprocess,
  type ImageTarget,
} from './datasets/image-preprocess.js';
export { decodeImage, isImageFile } from './datasets/image-decode.js';
export { readNpyFile, type NpyArray } from './datasets/npy-reader.js';
export {
  measureClassifierAccuracy,
  type AccuracyMetric,
  type ClassifierAccuracy,
  type MeasureAccuracyOptions,
  type OutputAccuracy,
} from './evaluate/classifier-accuracy.js';
export { OnnxModelError, OnnxModelErrorCode } from './onnx/onnx-errors.js';
export { loadOnnxModel, encodeOnnxModel, type OnnxModel, type TensorSpec } from './onnx/onnx-model.js';
export { OnnxSchema, withFields } from './onnx/onnx-schema.js';
export { type InputShapeFlag } from './onnx/input-shapes.js';
export { type LevelCheck, type OptimizationLevel, type PathConsistency } from './consistency/path-consistency.js';
export { type GraphIndex, type TensorKind } from './graph/graph-index.js';
export { type Cut, type CutOrigin } from './graph/cut-analysis.js';
export { type ProbedTensor } from './graph/shape-probe.js';
export { specToValueInfo, type SplitModels, type SplitOptions } from './graph/graph-surgery.js';
export { type Candidate, type CandidateKind } from './graph/candidates.js';
export { isSameDevice, type DeviceDescriptor } from './profile/device-descriptor.js';
export { summarise, type StageTiming } from './profile/stage-timing.js';
export {
  profileCandidates,
  type CandidateTiming,
  type ModelProfile,
  type NodeTiming,
  type ProfileOptions,
} from './profile/profiler.js';
export { readProfile, writeProfile, ProfileErrorCode, ProfileFileError } from './profile/profile-file.js';
export { buildPlan, type Plan, type PlanRange } from './plan/planner.js';
export {
  lookupPlan,
  rankCandidates,
  type CandidateCost,
  type Codec,
  type CodecBytes,
  type Objective,
  type PlanCandidate,
  type PlanContext,
  type PowerModel,
} from '@cleave/proto';
export { planCandidates, ProfileMismatchError } from './plan/plan-inputs.js';
export { BundleWriteError, BundleWriteErrorCode, type BundleContents } from './bundle/bundle-writer.js';
export {
  defaultModelId,
  partitionModel,
  type ExitReport,
  type PartitionOptions,
  type PartitionResult,
} from './partition.js';
export { prepareModel, type CalibrationSet, type PrepareOptions, type PreparedModel } from './prepare-model.js';
export { TaskError, TaskErrorCode } from './task/model-task.js';
export {
  applyExitPolicy,
  calibrateExits,
  type CalibrateExitsOptions,
  type ExitCalibration,
} from './exits/exit-calibration.js';
export { CONFIDENCE_MEASURES, type ConfidenceMeasure } from './exits/confidence.js';
export { type ExitEvidence, type ExitEvidenceSet, type OperatingPoint } from './exits/threshold-calibration.js';
export { ExitError, ExitErrorCode } from './exits/exit-errors.js';
export { type CollectedLogits } from './exits/collect-logits.js';
export { type LinearClassifier, type SoftmaxRegressionOptions } from './exits/softmax-regression.js';
export { type PosthocExit, type PosthocExitOptions } from './exits/posthoc-exits.js';
