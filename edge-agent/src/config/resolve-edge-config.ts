// One configuration from three sources, later ones winning: the YAML file, the environment, then flags. It is
// validated once, and every problem from every source is reported together, each naming where it came from.
// The merging and the problem reports are @cleave/proto's `resolveLayeredConfig`, shared with the cloud service.
import {
  BUNDLE_TRUST_CONFIG_ENV,
  type ConfigEnvSpec,
  type ConfigFlagValue,
  type ConfigValueKind,
  InvalidConfigError,
  NATS_CONFIG_ENV,
  resolveLayeredConfig,
} from '@cleave/proto';
import { readConfigText } from '@cleave/node-runtime';
import { configFlagNames } from '@cleave/node-runtime/command-line';
import { EDGE_FLAGS } from '../edge-command.js';
import { crossFieldIssues, type EdgeConfig, EdgeConfigSchema } from './edge-config-schema.js';

/** How a string from the environment or a flag becomes a config value: the basic kinds, plus a models list. */
type ValueKind = ConfigValueKind | 'models';

/** Environment variables the agent reads, by config path. */
export const EDGE_CONFIG_ENV: Readonly<Record<string, ConfigEnvSpec<ValueKind>>> = Object.freeze({
  ...NATS_CONFIG_ENV,
  ...BUNDLE_TRUST_CONFIG_ENV,
  CLEAVE_AGENT_ID: { path: 'agentId', kind: 'string' },
  CLEAVE_PREFIX: { path: 'prefix', kind: 'string' },
  CLEAVE_EDGE_MODELS: { path: 'models', kind: 'models' },
  CLEAVE_EDGE_CACHE_DIR: { path: 'cacheDir', kind: 'string' },
  CLEAVE_EDGE_HTTP_HOST: { path: 'http.host', kind: 'string' },
  CLEAVE_EDGE_HTTP_PORT: { path: 'http.port', kind: 'number' },
  CLEAVE_EDGE_DEADLINE_MS: { path: 'policy.deadlineMs', kind: 'number' },
  CLEAVE_BATTERY_PATH: { path: 'battery.path', kind: 'string' },
  OTEL_SERVICE_NAME: { path: 'telemetry.serviceName', kind: 'string' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { path: 'telemetry.otlpEndpoint', kind: 'string' },
});

/** A value set by a command-line flag. */
export type EdgeFlagValue = ConfigFlagValue;

/** Where the configuration comes from. */
export interface EdgeConfigSources {
  /** YAML file (`--config`). */
  readonly configPath?: string;
  /** A configuration object given in code (tests, embedding); merged before the environment. */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Environment variables; only those in {@link EDGE_CONFIG_ENV} are read. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly flags?: readonly EdgeFlagValue[];
}

/** The configuration is invalid. `issues` lists every problem, each naming its field and source. */
export class EdgeConfigError extends InvalidConfigError {
  override readonly name = 'EdgeConfigError';
}

/** Merges and validates the configuration; throws {@link EdgeConfigError} listing all problems. Frozen result. */
export async function resolveEdgeConfig(sources: EdgeConfigSources): Promise<Readonly<EdgeConfig>> {
  const file = sources.configPath === undefined ? undefined : await readConfigText(sources.configPath);
  const result = resolveLayeredConfig({
    schema: EdgeConfigSchema,
    envSpec: EDGE_CONFIG_ENV,
    flagNames: configFlagNames(EDGE_FLAGS),
    ...(file === undefined ? {} : { file }),
    ...(sources.values === undefined ? {} : { values: sources.values }),
    ...(sources.env === undefined ? {} : { env: sources.env }),
    ...(sources.flags === undefined ? {} : { flags: sources.flags }),
    convertKind: (value, kind) =>
      kind !== 'models' ? value : Array.isArray(value) ? value.flatMap(modelsFrom) : modelsFrom(value),
    crossField: crossFieldIssues,
  });
  if (!result.ok) throw new EdgeConfigError(result.problems);
  return result.config;
}

// `fmnist` or `fmnist:split-18` (pinned split); anything else is passed on for the schema to reject with context.
function modelsFrom(entry: unknown): unknown[] {
  if (typeof entry !== 'string') return [entry];
  return entry
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((spec) => {
      const [id, pin, ...rest] = spec.split(':');
      if (rest.length > 0) return spec;
      return pin === undefined || pin === '' ? { id } : { id, pin };
    });
}
