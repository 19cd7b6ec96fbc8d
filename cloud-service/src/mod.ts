/**
 * Public entry of @cleave/cloud-service: the tail micro-service (dynamic batching, back-pressure, on-demand tails
 * from the bundle store), a whole replica as `cleave cloud` runs it, and its configuration. The command that runs
 * it is `@cleave/cloud-service/cli`; the bundle store, NATS options and telemetry are `@cleave/node-runtime`'s.
 */
export { type CloudReplica, type CloudReplicaDeps } from './cloud-replica.js';
export { type CloudConfig } from './config/cloud-config-schema.js';
export { CONFIG_ENV, resolveCloudConfig, type ConfigSources, type FlagValue } from './config/resolve-cloud-config.js';
export {
  createTailService,
  type ServiceHealth,
  type ServiceLogger,
  type TailService,
  type TailServiceDeps,
  type TailServiceSettings,
  type TailServiceStats,
  type TailServiceStatus,
} from './service/tail-service.js';
export type { PrewarmReport } from './service/tail-prewarm.js';
export type { WeightsContent } from './tail/tail-files.js';
export type { OrtSessionSettings } from './tail/executor-protocol.js';
export { type TailExecutor } from './tail/ort-executor.js';
export type { BatchPolicy } from './tail/tail-batcher.js';
