/**
 * Public entry of @cleave/edge-agent: the gateway daemon (bundles, local API, exits, offload, fallback,
 * bandwidth- and battery-driven control, heartbeats), its configuration, and the pieces its tests and the cli use.
 * Applications that only call an agent import `@cleave/edge-agent/client` instead.
 */
export { createEdgeAgent, type EdgeAgent, type EdgeAgentDeps } from './edge-agent.js';
export type { AgentHealth, AgentStatus, InferOptions, InferService, ModelStatus, SwitchRecord } from './agent-types.js';
export { EDGE_ERROR_STATUS, EdgeAgentError, EdgeErrorCode, isEdgeAgentError } from './edge-agent-error.js';

export {
  EdgeConfigSchema,
  ModelConfigSchema,
  type EdgeConfig,
  type EdgeConfigInput,
  type ModelConfig,
} from './config/edge-config-schema.js';
export {
  EDGE_CONFIG_ENV,
  EdgeConfigError,
  resolveEdgeConfig,
  type EdgeConfigSources,
  type EdgeFlagValue,
} from './config/resolve-edge-config.js';
export { connectEdgeNats, edgeNatsOptions } from './config/nats-connect-options.js';

export { watchPolicies, type PolicyLayers, type PolicyWatch } from './policy/policy-watch.js';

export {
  createBandwidthEstimator,
  type BandwidthEstimator,
  type BandwidthEstimatorOptions,
  type LinkEstimate,
  type TransferSample,
} from './adapt/bandwidth-estimator.js';
export {
  MAINS_POWER,
  parsePowerSupply,
  readPowerSupply,
  type PowerState,
  type PowerSupplyEntry,
} from './adapt/battery-monitor.js';
export {
  chooseOperatingPoint,
  noExits,
  objectiveForPower,
  type BatteryTiers,
  type ChosenOperatingPoint,
} from './adapt/objective-policy.js';
export { formatRange, isOutsideBand, lookupPlanRange, planObjective } from './adapt/plan-lookup.js';
export { createLinkProber, type LinkProber, type LinkProberOptions } from './adapt/link-prober.js';
export {
  createModelController,
  type ControlInputs,
  type ControlSettings,
  type Decision,
  type ModelController,
  type SwitchEvent,
} from './adapt/model-controller.js';
export {
  BreakerState,
  createCircuitBreaker,
  type BreakerTransition,
  type CircuitBreaker,
} from './runtime/circuit-breaker.js';
export { decideEarlyExit, type EarlyAnswer } from './runtime/exit-decision.js';
export { checkInputs, type RequestTensor } from './runtime/input-validation.js';
export { finalOutputs, type InferResult, type InferTimings } from './runtime/inference-pipeline.js';
export type { FallbackReason } from './runtime/offload-client.js';
export type { AgentTensor } from './runtime/tensor-io.js';
export type { RanOn } from './telemetry/request-stats.js';

export { createHttpApp, type HttpAppDeps } from './api/http-app.js';
export { MSGPACK_CONTENT_TYPE, packBody, unpackBody } from './api/infer-body.js';
export {
  EdgeClient,
  EdgeClientError,
  EdgeClientErrorCode,
  type ClientResult,
  type ClientTensor,
  type EdgeClientOptions,
} from './api/edge-client.js';
export { EDGE_TELEMETRY_SCOPE } from './telemetry/edge-telemetry.js';
