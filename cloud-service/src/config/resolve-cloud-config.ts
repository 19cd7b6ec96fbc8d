// One configuration from three sources, later ones winning: the YAML file, the environment, then flags. It is
// validated once, and every problem from every source is reported together, each with where it came from
// (`resolveLayeredConfig` in @cleave/proto, shared with the edge agent).
import { configFlagNames } from '@cleave/node-runtime/command-line';
import { CLOUD_FLAGS } from '../cloud-command.js';
import {
  BUNDLE_TRUST_CONFIG_ENV,
  type ConfigEnvSpec,
  type ConfigFlagValue,
  NATS_CONFIG_ENV,
  resolveLayeredConfig,
} from '@cleave/proto';
import { ConfigError, readConfigText } from '@cleave/node-runtime';
import { type CloudConfig, CloudConfigSchema, crossFieldIssues } from './cloud-config-schema.js';

/** Environment variables the service reads, by config path. */
export const CONFIG_ENV: Readonly<Record<string, ConfigEnvSpec>> = Object.freeze({
  ...NATS_CONFIG_ENV,
  ...BUNDLE_TRUST_CONFIG_ENV,
  CLEAVE_PREFIX: { path: 'prefix', kind: 'string' },
  CLEAVE_REPLICA: { path: 'replica', kind: 'string' },
  CLEAVE_MAX_BATCH_SIZE: { path: 'batching.maxBatchSize', kind: 'number' },
  CLEAVE_MAX_QUEUE_DELAY_US: { path: 'batching.maxQueueDelayUs', kind: 'number' },
  CLEAVE_MAX_QUEUE_REQUESTS: { path: 'batching.maxQueueRequests', kind: 'number' },
  CLEAVE_MAX_IN_FLIGHT: { path: 'limits.maxInFlight', kind: 'number' },
  CLEAVE_MAX_IN_FLIGHT_BYTES: { path: 'limits.maxInFlightBytes', kind: 'string' },
  CLEAVE_TAIL_MEMORY: { path: 'limits.tailMemory', kind: 'string' },
  CLEAVE_MAX_ELEMENTS_PER_REQUEST: { path: 'limits.maxElementsPerRequest', kind: 'number' },
  CLEAVE_ORT_INTRA_OP_THREADS: { path: 'onnx.intraOpThreads', kind: 'number' },
  CLEAVE_CACHE_DIR: { path: 'cache.dir', kind: 'string' },
  CLEAVE_HTTP_HOST: { path: 'http.host', kind: 'string' },
  CLEAVE_HTTP_PORT: { path: 'http.port', kind: 'number' },
  OTEL_SERVICE_NAME: { path: 'telemetry.serviceName', kind: 'string' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { path: 'telemetry.otlpEndpoint', kind: 'string' },
});

/** A value set by a command-line flag. */
export type FlagValue = ConfigFlagValue;

/** Where the configuration comes from. */
export interface ConfigSources {
  /** YAML file (`--config`). */
  readonly configPath?: string;
  /** Environment variables; only those in {@link CONFIG_ENV} are read. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly flags?: readonly FlagValue[];
  /** Values the caller computes (e.g. the replica name from host name and pid), used when no source sets them. */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/** Merges and validates the configuration; throws {@link ConfigError} listing all problems. Frozen result. */
export async function resolveCloudConfig(sources: ConfigSources): Promise<Readonly<CloudConfig>> {
  const result = resolveLayeredConfig({
    schema: CloudConfigSchema,
    envSpec: CONFIG_ENV,
    flagNames: configFlagNames(CLOUD_FLAGS),
    ...(sources.defaults === undefined ? {} : { defaults: sources.defaults }),
    ...(sources.configPath === undefined ? {} : { file: await readConfigText(sources.configPath) }),
    ...(sources.env === undefined ? {} : { env: sources.env }),
    ...(sources.flags === undefined ? {} : { flags: sources.flags }),
    crossField: crossFieldIssues,
  });
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}
