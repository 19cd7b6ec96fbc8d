// One configuration from layers, later ones winning: defaults, a YAML file, values given in code, the environment,
// then flags. It is validated once against a zod schema, and every problem from every layer is reported together,
// each naming its field and the layer it came from. The cloud service and the edge agent both resolve their
// configuration this way; only their schemas, variables and extra value kinds differ. Reading the file is the
// caller's (this package has no `node:` imports), so it passes the text in.
import { parseDocument } from 'yaml';
import type { z } from 'zod';

/** How a string from the environment or a flag becomes a config value; callers may add kinds of their own. */
export type ConfigValueKind = 'string' | 'number' | 'list' | 'boolean';

/** An environment variable a program reads: the config path it sets and how its text converts. */
export interface ConfigEnvSpec<K extends string = ConfigValueKind> {
  readonly path: string;
  readonly kind: K;
}

/** A value set by a command-line flag. */
export interface ConfigFlagValue {
  /** Config path, e.g. `batching.maxBatchSize`. */
  readonly path: string;
  /** As given; strings are converted like environment values. */
  readonly value: string | number | boolean | readonly string[];
  /** How the user spelled it, for error messages, e.g. `--max-batch-size`. */
  readonly flag: string;
}

/** A problem that spans fields, found by a program's own check. */
export interface CrossFieldProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** Everything {@link resolveLayeredConfig} merges and checks. */
export interface LayeredConfigInput<T, K extends string> {
  readonly schema: z.ZodType<T>;
  readonly envSpec: Readonly<Record<string, ConfigEnvSpec<K>>>;
  /** Values by config path, below every other layer. */
  readonly defaults?: Readonly<Record<string, unknown>>;
  /** The config file: its text, or why it could not be read. */
  readonly file?: { readonly path: string; readonly text: string } | { readonly path: string; readonly error: string };
  /** A configuration object given in code (tests, embedding); merged after the file. */
  readonly values?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly flags?: readonly ConfigFlagValue[];
  /** Converts a value of a caller-defined kind (e.g. a models list); the basic kinds are handled here. */
  readonly convertKind?: (value: unknown, kind: K) => unknown;
  readonly crossField?: (merged: unknown) => readonly CrossFieldProblem[];
  /** Command-line flags by config path (e.g. `agentId` → `--agent-id`), named when a required value is missing. */
  readonly flagNames?: Readonly<Record<string, string>>;
}

/** The resolved, frozen configuration, or every problem found. */
export type LayeredConfigResult<T> =
  { readonly ok: true; readonly config: Readonly<T> } | { readonly ok: false; readonly problems: readonly string[] };

type Raw = Record<string, unknown>;

/** Merges the layers and validates the result once; see the module comment. */
export function resolveLayeredConfig<T, K extends string>(input: LayeredConfigInput<T, K>): LayeredConfigResult<T> {
  const problems: string[] = [];
  const origin = new Map<string, string>();
  const merged: Raw = {};
  const convert = (value: unknown, kind: K): unknown => {
    const basic = typeof value === 'string' ? convertBasic(value, kind) : value;
    return input.convertKind ? input.convertKind(basic, kind) : basic;
  };
  // A flag converts like the environment variable of the same path; a flag without one stays as given.
  const kindOf = (path: string): K =>
    (Object.values(input.envSpec).find((spec) => spec.path === path)?.kind ?? 'string') as K;

  for (const [path, value] of Object.entries(input.defaults ?? {})) setPath(merged, path, value);
  if (input.file !== undefined) {
    const file =
      'error' in input.file ? fail(input.file.path, input.file.error, problems) : parseFile(input.file, problems);
    if (file !== undefined) {
      for (const path of leafPaths(file)) origin.set(path, input.file.path);
      deepMerge(merged, file);
    }
  }
  if (input.values !== undefined) {
    const values = structuredClone(input.values) as Raw;
    for (const path of leafPaths(values)) origin.set(path, 'code');
    deepMerge(merged, values);
  }
  for (const [name, raw] of Object.entries(input.env ?? {})) {
    const spec = input.envSpec[name];
    if (spec === undefined || raw === undefined || raw === '') continue;
    setPath(merged, spec.path, convert(raw, spec.kind));
    origin.set(spec.path, `env ${name}`);
  }
  for (const flag of input.flags ?? []) {
    setPath(merged, flag.path, convert(flag.value, kindOf(flag.path)));
    origin.set(flag.path, `flag ${flag.flag}`);
  }

  const result = input.schema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.');
      const missing = issue.code === 'invalid_type' && valueAt(merged, issue.path) === undefined;
      if (missing) problems.push(`${path}: required; ${whereToSet(path, input.envSpec, input.flagNames)}`);
      else problems.push(...describeIssue(issue, origin));
    }
  }
  for (const issue of input.crossField?.(merged) ?? []) problems.push(withSource(issue.path, issue.message, origin));
  if (problems.length > 0 || !result.success) return { ok: false, problems };
  return { ok: true, config: deepFreeze(result.data) };
}

function fail(path: string, error: string, problems: string[]): undefined {
  problems.push(`${path}: cannot read the config file: ${error}`);
  return undefined;
}

function parseFile(file: { readonly path: string; readonly text: string }, problems: string[]): Raw | undefined {
  const doc = parseDocument(file.text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push(`${file.path}: YAML ${error.message.split('\n')[0]}`);
    return undefined;
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    problems.push(`${file.path}: the config file must hold a YAML mapping at the top level`);
    return undefined;
  }
  return value;
}

// Strings that are not numbers stay strings, so the schema reports them with the field and source.
function convertBasic(raw: unknown, kind: string): unknown {
  if (typeof raw !== 'string') return raw;
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
    default:
      return raw;
  }
}

// Where a missing value can be given: its flag, its environment variable, or the config file.
function whereToSet(
  path: string,
  envSpec: Readonly<Record<string, ConfigEnvSpec<string>>>,
  flagNames: Readonly<Record<string, string>> | undefined,
): string {
  const env = Object.entries(envSpec).find(([, spec]) => spec.path === path)?.[0];
  const ways = [flagNames?.[path], env === undefined ? undefined : `env ${env}`, `\`${path}:\` in the config file`];
  return `set it with ${ways.filter((w) => w !== undefined).join(', or ')}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
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
    if (!isPlainObject(next)) node[segment] = {};
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
