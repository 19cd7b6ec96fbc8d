// One configuration from three sources, later ones winning: the YAML file, the environment, then flags. It is
// validated once, and every problem from every source is reported together, each with where it came from.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { type CloudConfig, CloudConfigSchema, crossFieldIssues } from './cloud-config-schema.js';

/** How a string from the environment or a flag becomes a config value. */
type ValueKind = 'string' | 'number' | 'list' | 'boolean';

/** Environment variables the service reads, by config path. */
export const CONFIG_ENV: Readonly<Record<string, { readonly path: string; readonly kind: ValueKind }>> = Object.freeze({
  NATS_URL: { path: 'nats.servers', kind: 'list' },
  CLEAVE_PREFIX: { path: 'prefix', kind: 'string' },
  CLEAVE_REPLICA: { path: 'replica', kind: 'string' },
  CLEAVE_NATS_USER: { path: 'nats.user', kind: 'string' },
  CLEAVE_NATS_PASS: { path: 'nats.pass', kind: 'string' },
  CLEAVE_NATS_TOKEN: { path: 'nats.token', kind: 'string' },
  CLEAVE_NATS_CREDS: { path: 'nats.credsFile', kind: 'string' },
  CLEAVE_NATS_NKEY_SEED_FILE: { path: 'nats.nkeySeedFile', kind: 'string' },
  CLEAVE_NATS_TLS_CA: { path: 'nats.tls.caFile', kind: 'string' },
  CLEAVE_NATS_TLS_CERT: { path: 'nats.tls.certFile', kind: 'string' },
  CLEAVE_NATS_TLS_KEY: { path: 'nats.tls.keyFile', kind: 'string' },
  CLEAVE_MAX_BATCH_SIZE: { path: 'batching.maxBatchSize', kind: 'number' },
  CLEAVE_MAX_QUEUE_DELAY_US: { path: 'batching.maxQueueDelayUs', kind: 'number' },
  CLEAVE_MAX_QUEUE_REQUESTS: { path: 'batching.maxQueueRequests', kind: 'number' },
  CLEAVE_MAX_IN_FLIGHT: { path: 'limits.maxInFlight', kind: 'number' },
  CLEAVE_MAX_IN_FLIGHT_BYTES: { path: 'limits.maxInFlightBytes', kind: 'string' },
  CLEAVE_TAIL_MEMORY: { path: 'limits.tailMemory', kind: 'string' },
  CLEAVE_ORT_INTRA_OP_THREADS: { path: 'onnx.intraOpThreads', kind: 'number' },
  CLEAVE_HTTP_HOST: { path: 'http.host', kind: 'string' },
  CLEAVE_HTTP_PORT: { path: 'http.port', kind: 'number' },
  OTEL_SERVICE_NAME: { path: 'telemetry.serviceName', kind: 'string' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { path: 'telemetry.otlpEndpoint', kind: 'string' },
});

/** A value set by a command-line flag. */
export interface FlagValue {
  /** Config path, e.g. `batching.maxBatchSize`. */
  readonly path: string;
  /** As given; strings are converted like environment values. */
  readonly value: string | number | boolean | readonly string[];
  /** How the user spelled it, for error messages, e.g. `--max-batch-size`. */
  readonly flag: string;
}

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

/** The configuration is invalid. `issues` lists every problem, each naming its field and source. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
  constructor(readonly issues: readonly string[]) {
    super(
      `invalid configuration (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}):\n${issues
        .map((issue) => `  - ${issue}`)
        .join('\n')}`,
    );
  }
}

type Raw = Record<string, unknown>;

/** Merges and validates the configuration; throws {@link ConfigError} listing all problems. Frozen result. */
export async function resolveCloudConfig(sources: ConfigSources): Promise<Readonly<CloudConfig>> {
  const problems: string[] = [];
  const origin = new Map<string, string>();
  const merged: Raw = {};
  for (const [path, value] of Object.entries(sources.defaults ?? {})) setPath(merged, path, value);

  if (sources.configPath !== undefined) {
    const file = await readConfigFile(sources.configPath, problems);
    if (file !== undefined) {
      for (const path of leafPaths(file)) origin.set(path, sources.configPath);
      deepMerge(merged, file);
    }
  }
  for (const [name, raw] of Object.entries(sources.env ?? {})) {
    const spec = CONFIG_ENV[name];
    if (spec === undefined || raw === undefined || raw === '') continue;
    setPath(merged, spec.path, convert(raw, spec.kind));
    origin.set(spec.path, `env ${name}`);
  }
  for (const flag of sources.flags ?? []) {
    const kind = kindOf(flag.path);
    setPath(merged, flag.path, typeof flag.value === 'string' ? convert(flag.value, kind) : flag.value);
    origin.set(flag.path, `flag ${flag.flag}`);
  }

  const result = CloudConfigSchema.safeParse(merged);
  if (!result.success) problems.push(...result.error.issues.flatMap((issue) => describeIssue(issue, origin)));
  problems.push(...crossFieldIssues(merged).map((issue) => withSource(issue.path, issue.message, origin)));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

async function readConfigFile(path: string, problems: string[]): Promise<Raw | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    problems.push(`${path}: cannot read the config file: ${(error as Error).message}`);
    return undefined;
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push(`${path}: YAML ${error.message.split('\n')[0]}`);
    return undefined;
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${path}: the config file must hold a YAML mapping at the top level`);
    return undefined;
  }
  return value as Raw;
}

function kindOf(path: string): ValueKind {
  return Object.values(CONFIG_ENV).find((spec) => spec.path === path)?.kind ?? 'string';
}

// Strings that are not numbers stay strings, so the schema reports them with the field and source.
function convert(raw: string, kind: ValueKind): unknown {
  switch (kind) {
    case 'number':
      return /^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'string':
      return raw;
  }
}

// One line per problem: an unknown-keys issue becomes one line per key, so each typo is named on its own.
function describeIssue(issue: z.core.$ZodIssue, origin: ReadonlyMap<string, string>): string[] {
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
  const message =
    issue.code === 'unrecognized_keys' ? 'unknown setting' : issue.message.replace(/^Invalid input: /, '');
  return keys.map((key) =>
    withSource([...issue.path.map(String), ...(key === undefined ? [] : [key])], message, origin),
  );
}

// `path: message (from source)`, where the source is that of the field or of its nearest parent that has one.
function withSource(segments: readonly string[], message: string, origin: ReadonlyMap<string, string>): string {
  let source: string | undefined;
  for (let n = segments.length; n > 0 && source === undefined; n -= 1) {
    source = origin.get(segments.slice(0, n).join('.'));
  }
  return `${segments.join('.') || '(root)'}: ${message}${source === undefined ? '' : ` (from ${source})`}`;
}

function setPath(target: Raw, path: string, value: unknown): void {
  const segments = path.split('.');
  let node = target;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Raw;
  }
  node[segments.at(-1)!] = value;
}

function deepMerge(target: Raw, source: Raw): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else target[key] = value;
  }
}

function leafPaths(value: Raw, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    isPlainObject(child) ? [`${prefix}${key}`, ...leafPaths(child, `${prefix}${key}.`)] : [`${prefix}${key}`],
  );
}

function isPlainObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
