/**
 * Public entry of the Cleave wire contract, shared by edge agents and cloud replicas: messages and their msgpack
 * codec, tensor codecs (f32, f16, int8 affine, raw), NATS subject and bucket names, trace and deadline headers,
 * wire error codes and the bundle manifest schema. Isomorphic: no NATS client and no `node:` imports.
 */

export { PROTOCOL_VERSION } from './protocol-version.js';

export { CodedError, codedErrorGuard, type CodedErrorGuard, type LookAlikeErrors } from './coded-error.js';
export { isProtocolError, ProtocolError, ProtocolErrorCode, type ProtocolErrorOptions } from './protocol-error.js';
export {
  isWireErrorCode,
  MAX_WIRE_ERROR_MESSAGE_LENGTH,
  toWireError,
  WIRE_ERROR_RETRYABLE,
  wireError,
  WireErrorCode,
  type WireError,
} from './error-codes.js';

export {
  agentInferSubject,
  assertToken,
  blobObjectName,
  bucketNames,
  bundleAnnounceSubject,
  bundleAnnounceWildcard,
  bundleObjectName,
  DEFAULT_SUBJECT_PREFIX,
  heartbeatSubject,
  heartbeatWildcard,
  isValidToken,
  MAX_TOKEN_LENGTH,
  parseTailSubject,
  TAIL_QUEUE_GROUP,
  TAIL_SERVICE_NAME,
  tailSubject,
  tailWildcard,
  type BucketNames,
  type TailAddress,
  type TailSubjectOptions,
} from './subjects.js';
export { isSafeRelativePath, SAFE_RELATIVE_PATH_RULE } from './relative-path.js';

export {
  DEADLINE_HEADER,
  formatDeadline,
  formatTraceparent,
  isExpired,
  isSampled,
  parseDeadline,
  parseTraceparent,
  remainingMs,
  TRACE_FLAG_SAMPLED,
  TraceHeader,
  type TraceParent,
} from './trace-context.js';

export {
  DEFAULT_DECODE_LIMITS,
  resolveDecodeLimits,
  type DecodeLimits,
  type ResolvedDecodeLimits,
} from './decode-limits.js';
export { HOST_IS_LITTLE_ENDIAN } from './byte-order.js';
export { decodeFloat16, encodeFloat16, FLOAT16_MAX, float16BitsToNumber, float32ToFloat16Bits } from './float16.js';
export {
  affineParamsFromRange,
  dequantizeInt8,
  quantizeInt8,
  type AffineParams,
  type QuantizedInt8,
} from './int8-affine.js';
export {
  allocateArray,
  arrayFromNumbers,
  DTYPE_SPECS,
  dtypeOfArray,
  ELEMENT_TYPES,
  elementTypeBytes,
  elementTypeOfOnnx,
  FLOAT_DTYPE,
  firstNonFinite,
  isElementType,
  isTensorDtype,
  RAW_DTYPES,
  TENSOR_DTYPES,
  TensorDtypeSchema,
  type DtypeArray,
  type DtypeArrays,
  type ElementType,
  type ElementTypeSpec,
  type RawDtype,
  type TensorDtype,
  type TensorDtypeSpec,
  type TypedArrayConstructor,
} from './dtypes.js';
export {
  CODEC_SPECS,
  CODECS,
  CodecSchema,
  DEFAULT_CHANNEL_AXIS,
  DEFAULT_PLAN_CODECS,
  estimateTensorBytes,
  isCodec,
  LOSSLESS_CODEC,
  mapCodecs,
  parseCodecList,
  perCodecSchema,
  RAW_ENCODING,
  TENSOR_ENCODINGS,
  tensorWireBytes,
  type Codec,
  type CodecData,
  type CodecProblem,
  type CodecSpec,
  type EncodeTensorOptions,
  type PerCodec,
  type TensorEncoding,
  type UncheckedCodecData,
} from './codecs.js';
export {
  elementBytes,
  encodingsFor,
  MAX_TENSOR_NAME_LENGTH,
  MAX_TENSOR_RANK,
  validateEncodedTensor,
  type EncodedTensor,
} from './tensor-validation.js';
export {
  decodeAnyTensor,
  decodeTensor,
  encodeAnyTensor,
  encodeRawTensor,
  encodeTensor,
  type DecodedTensor,
  type FloatTensor,
  type RawTensorData,
  type TensorOf,
} from './tensor-codec.js';

export {
  errorReply,
  isMessageKind,
  MAX_HEARTBEAT_SWITCHES,
  MAX_ID_LENGTH,
  MAX_SWITCH_REASON,
  MessageKind,
  type BundleAnnouncement,
  type ErrorReply,
  type Heartbeat,
  type HeartbeatModelStats,
  type InferReply,
  type InferRequest,
  type Message,
  type MessageOfKind,
} from './messages.js';
export { decodeMessage, decodeMessageOfKind, encodeMessage } from './message-codec.js';

export { argmaxRow, EXIT_CONFIDENCE_MEASURES, exitConfidence, type ExitConfidenceMeasure } from './exit-confidence.js';
export {
  answerSize,
  assertExitsEvaluable,
  exitEvaluationProblems,
  ExitEvaluationError,
  ExitEvaluationErrorCode,
  exitLayout,
  layoutSize,
  nearestIndex,
  sampleAgreement,
  sampleClassMap,
  sampleConfidence,
  sampleLogitsAt,
  type EvaluableTask,
  type ExitLayout,
  type ExitSpecLike,
  type ExitTensor,
  type MapSize,
} from './exit-evaluator.js';
export { median, quantile, quantileOrNaN } from './quantiles.js';
export { OUTPUT_AGREEMENT_TOLERANCE, OUTPUT_SCALE_FLOOR, outputDeviation } from './output-agreement.js';
export { seededRandom } from './seeded-random.js';

export {
  BUNDLE_FORMAT,
  BundleManifestSchema,
  CandidateKind,
  ExitPolicySchema,
  OperatingPointSchema,
  parseBundleManifest,
  type BundleManifest,
  type SessionOptions,
  type ExitPolicy,
  type OperatingPoint,
  type BundlePlan,
  type PlanRange,
  type SplitCandidate,
  type StageProfile,
  type TensorSpec,
} from './bundle-manifest.js';
export {
  BUNDLE_TRUST_CONFIG_ENV,
  bundleTrustFields,
  canonicalJson,
  contentVersion,
  manifestSigningBytes,
  PublisherKeySchema,
  type TrustedPublisher,
} from './bundle-integrity.js';
export { inferTask, isTask, TASKS, TASKS_WITH_CONFIDENCE, TaskSchema, taskHasConfidence, type Task } from './tasks.js';
export {
  agentPolicyKey,
  AgentPolicySchema,
  FLEET_POLICY_KEY,
  mergePolicies,
  PolicyFieldsSchema,
  validateAgentPolicy,
  type AgentPolicy,
  type PolicyFieldErrors,
  type PolicyFields,
} from './agent-policy.js';
export {
  BALANCED_EXTRA_POINTS,
  isObjective,
  OBJECTIVE_MODES,
  OBJECTIVE_SPECS,
  objectiveSpec,
  OBJECTIVES,
  ObjectiveModeSchema,
  ObjectiveSchema,
  type Objective,
  type ObjectiveCost,
  type ObjectiveMode,
  type ObjectiveSpec,
} from './objectives.js';
export {
  costAt,
  DEFAULT_POWER_MODEL,
  edgeOnlyCost,
  lookupPlan,
  objectiveValue,
  rankCandidates,
  type CandidateCost,
  type CodecBytes,
  type CostCandidateKind,
  type PlanCandidate,
  type PlanContext,
  type PlanRangeLike,
  type PlanTable,
  type PlanTableRange,
  type PowerModel,
  type TailPlacement,
  replyBytes,
  type ReplyOutput,
} from './cost-model.js';

export {
  resolveLayeredConfig,
  type ConfigEnvSpec,
  type ConfigFlagValue,
  type ConfigValueKind,
  type CrossFieldProblem,
  type LayeredConfigInput,
  type LayeredConfigResult,
} from './layered-config.js';
export {
  byteSize,
  configToken,
  InvalidConfigError,
  NATS_CONFIG_ENV,
  natsCrossFieldProblems,
  natsSettingsObject,
  natsUrl,
  plainRecord,
} from './config-fields.js';
