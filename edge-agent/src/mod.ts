/**
 * Public entry of @cleave/edge-agent: the gateway daemon (bundles, local API, exits, offload, fallback,
 * bandwidth- and battery-driven control, heartbeats), its configuration, and the pieces the cli, the demo and the test harness use.
 * Applications that only call an agent import `@cleave/edge-agent/client` instead.
 */
export { createEdgeAgent, type EdgeAgent, type EdgeAgentDeps } from './edge-agent.js';
export type { AgentHealth, AgentStatus, InferOptions, InferService, ModelStatus, SwitchRecord } from './agent-types.js';
export { EdgeAgentError, EdgeErrorCode } from './edge-agent-error.js';

export { type EdgeConfig, type EdgeConfigInput, type ModelConfig } from './config/edge-config-schema.js';
export {
  EdgeConfigError,
  resolveEdgeConfig,
  type EdgeConfigSources,
  type EdgeFlagValue,
} from './config/resolve-edge-config.js';

export {
  createBandwidthEstimator,
  type BandwidthEstimator,
  type BandwidthEstimatorOptions,
  type LinkEstimate,
  type TransferSample,
} from './adapt/bandwidth-estimator.js';
export { readPowerSupply, type PowerState, type PowerSupplyEntry } from './adapt/battery-monitor.js';
export { lookupPlanRange } from './adapt/plan-lookup.js';
export { createLinkProber, type LinkProber, type LinkProberOptions } from './adapt/link-prober.js';
export { type InferResult, type InferTimings } from './runtime/inference-pipeline.js';
export type { FallbackReason } from './runtime/offload-client.js';
export type { AgentTensor } from './runtime/tensor-io.js';
export type { RanOn } from './telemetry/request-stats.js';

export {
  EdgeClient,
  EdgeClientError,
  type ClientResult,
  type ClientTensor,
  type EdgeClientOptions,
} from './api/edge-client.js';
