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
export { OnnxSchema, withFields } from './onnx/onnx-schema.js';
export { indexGraph, type GraphIndex, type TensorKind } from './graph/graph-index.js';
export { findCuts, type Cut, type CutOrigin } from './graph/cut-analysis.js';
export { probeTensorShapes, type ProbedTensor } from './graph/shape-probe.js';
export { specToValueInfo, splitAtCut, type SplitModels, type SplitOptions } from './graph/graph-surgery.js';
export { buildCandidates, wireBytes, type Candidate, type CandidateKind } from './graph/candidates.js';
export { describeDevice, cgroupCpuQuota, type DeviceDescriptor } from './profile/device-descriptor.js';
export { summarise, type StageTiming } from './profile/stage-timing.js';
export {
  profileCandidates,
  type CandidateTiming,
  type ModelProfile,
  type NodeTiming,
  type ProfileOptions,
} from './profile/profiler.js';
export { readProfile, writeProfile, ProfileErrorCode, ProfileFileError } from './profile/profile-file.js';
export { buildPlan, dropDominated, PLAN_MIN_MBPS, type Plan, type PlanRange } from './plan/planner.js';
export {
  costAt,
  DEFAULT_POWER_MODEL,
  lookupPlan,
  OBJECTIVES,
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
export {
  assertBundleTarget,
  contentVersion,
  writeBundle,
  BundleWriteError,
  BundleWriteErrorCode,
  type BundleContents,
} from './bundle/bundle-writer.js';
export { partitionModel, type ExitReport, type PartitionOptions, type PartitionResult } from './partition.js';
export {
  detectExitOutputs,
  prepareModel,
  splitCalibration,
  type CalibrationSet,
  type PrepareOptions,
  type PreparedModel,
} from './prepare-model.js';
export {
  applyExitPolicy,
  calibrateExits,
  exitRateFor,
  type CalibrateExitsOptions,
  type ExitCalibration,
} from './exits/exit-calibration.js';
export { CONFIDENCE_MEASURES, confidence, argmaxRow, type ConfidenceMeasure } from './exits/confidence.js';
export {
  calibrateThresholds,
  evidenceFromLogits,
  exitCurve,
  simulate,
  type ExitEvidence,
  type ExitEvidenceSet,
  type OperatingPoint,
} from './exits/threshold-calibration.js';
export { ExitError, ExitErrorCode } from './exits/exit-errors.js';
export { checkCalibrationFits, collectLogits, sliceImages, type CollectedLogits } from './exits/collect-logits.js';
export {
  trainSoftmaxRegression,
  applyLinear,
  type LinearClassifier,
  type SoftmaxRegressionOptions,
} from './exits/softmax-regression.js';
export {
  attachPosthocExits,
  chooseAttachPoints,
  type PosthocExit,
  type PosthocExitOptions,
} from './exits/posthoc-exits.js';
