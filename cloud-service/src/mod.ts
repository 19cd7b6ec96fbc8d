/**
 * Public entry of @cleave/cloud-service: the tail micro-service (dynamic batching, back-pressure, on-demand tails
 * from the bundle store), its configuration, health server and telemetry. The bundle store has its own entry,
 * `@cleave/cloud-service/bundle-store`, which the edge agent can import without any of this.
 */
/** Version of the tail service, reported in $SRV.INFO. */
export const CLOUD_SERVICE_VERSION = '0.1.0';

export { startCloudReplica, type CloudReplica, type CloudReplicaDeps } from './cloud-replica.js';
export { type CloudConfig, CloudConfigSchema, NatsSettingsSchema } from './config/cloud-config-schema.js';
export { resolveNatsSettings } from './config/resolve-nats-settings.js';
export {
  CONFIG_ENV,
  ConfigError,
  resolveCloudConfig,
  type ConfigSources,
  type FlagValue,
} from './config/resolve-cloud-config.js';
export {
  connectNats,
  natsConnectOptions,
  tailServiceSettings,
  type NatsClientSettings,
} from './config/service-settings.js';
export {
  createHealthApp,
  PROMETHEUS_CONTENT_TYPE,
  startHealthServer,
  type HealthAppDeps,
  type HealthServer,
} from './http/health-server.js';
export {
  createTailService,
  type ServiceHealth,
  type ServiceLogger,
  type TailService,
  type TailServiceDeps,
  type TailServiceSettings,
  type TailServiceStats,
} from './service/tail-service.js';
export type { OrtSessionSettings } from './tail/executor-protocol.js';
export { createOrtExecutor, type TailExecutor } from './tail/ort-executor.js';
export type { BatchPolicy } from './tail/tail-batcher.js';
export { startTelemetrySdk, type TelemetrySdk, type TelemetrySdkOptions } from './telemetry/otel-sdk.js';
export { TELEMETRY_SCOPE } from './telemetry/service-telemetry.js';
