import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import { isSafeRelativePath, SAFE_RELATIVE_PATH_RULE } from './relative-path.js';

/** Subject prefix and bucket-name stem used when none is configured. */
export const DEFAULT_SUBJECT_PREFIX = 'cleave';

/** Name under which cloud replicas register the tail micro-service (`@nats-io/services`). */
export const TAIL_SERVICE_NAME = 'cleave-tail';

/** Queue group shared by all tail replicas, so each request reaches exactly one of them. */
export const TAIL_QUEUE_GROUP = 'cleave-tail';

/** Longest accepted token; keeps subjects, KV keys and object names short. */
export const MAX_TOKEN_LENGTH = 128;

// Stricter than NATS needs (which only forbids whitespace, '.', '*' and '>'): the same token is also a KV key,
// part of an object-store name and, for the prefix, part of a bucket name, whose charset is [A-Za-z0-9_-].
const TOKEN_PATTERN = /^[A-Za-z0-9_-]+$/;

// A blob's object name is its content's sha256, lowercase hex as in a manifest's `files`.
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Where a tail request goes: one subject per (model, bundle version, split candidate). */
export interface TailAddress {
  readonly model: string;
  readonly version: string;
  readonly split: string;
}

/** Arguments of {@link tailSubject}. */
export interface TailSubjectOptions extends TailAddress {
  /** @default 'cleave' */
  readonly prefix?: string;
}

/** NATS bucket names derived from a prefix. */
export interface BucketNames {
  /** Object store holding bundle files: blobs by {@link blobObjectName}, manifests by {@link bundleObjectName}. */
  readonly bundles: string;
  /** KV: model id → current bundle version (the atomic rollout switch). */
  readonly current: string;
  /** KV: policies (exit thresholds, objectives) per model or agent. */
  readonly policies: string;
  /** KV: agent id → latest heartbeat, for the console. */
  readonly heartbeats: string;
}

/** True when `value` can be a subject token: 1-128 characters of A-Z a-z 0-9 _ -. */
export function isValidToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH && TOKEN_PATTERN.test(value);
}

/** Returns `value` when it is a valid token; otherwise throws ProtocolError `bad_token` naming `what` and the value. */
export function assertToken(value: unknown, what: string): string {
  if (isValidToken(value)) return value;
  throw new ProtocolError(
    ProtocolErrorCode.BadToken,
    `${what} token ${describe(value)} is invalid: ${tokenRule(value)}`,
  );
}

/** Subject of the tail for one (model, version, split): `${prefix}.tail.${model}.${version}.${split}`. */
export function tailSubject(options: TailSubjectOptions): string {
  const prefix = assertToken(options.prefix ?? DEFAULT_SUBJECT_PREFIX, 'prefix');
  const model = assertToken(options.model, 'model');
  const version = assertToken(options.version, 'version');
  const split = assertToken(options.split, 'split');
  return `${prefix}.tail.${model}.${version}.${split}`;
}

/** Wildcard matching every tail subject, which the tail service subscribes to: `${prefix}.tail.>`. */
export function tailWildcard(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  return `${assertToken(prefix, 'prefix')}.tail.>`;
}

/** Reads (model, version, split) back from a tail subject; throws ProtocolError `bad_token` if it is not one. */
export function parseTailSubject(subject: string, prefix: string = DEFAULT_SUBJECT_PREFIX): TailAddress {
  assertToken(prefix, 'prefix');
  const parts = typeof subject === 'string' ? subject.split('.') : [];
  if (parts.length !== 5 || parts[0] !== prefix || parts[1] !== 'tail') {
    throw new ProtocolError(
      ProtocolErrorCode.BadToken,
      `subject ${describe(subject)} is not a tail subject: expected "${prefix}.tail.<model>.<version>.<split>"`,
    );
  }
  return {
    model: assertToken(parts[2], 'model'),
    version: assertToken(parts[3], 'version'),
    split: assertToken(parts[4], 'split'),
  };
}

/** Subject of an agent's local inference API for one model: `${prefix}.agent.${agentId}.infer.${model}`. */
export function agentInferSubject(prefix: string, agentId: string, model: string): string {
  return `${assertToken(prefix, 'prefix')}.agent.${assertToken(agentId, 'agent id')}.infer.${assertToken(model, 'model')}`;
}

/** Subject an agent publishes its heartbeats on: `${prefix}.heartbeat.${agentId}`. */
export function heartbeatSubject(prefix: string, agentId: string): string {
  return `${assertToken(prefix, 'prefix')}.heartbeat.${assertToken(agentId, 'agent id')}`;
}

/** Wildcard matching every agent's heartbeats: `${prefix}.heartbeat.*`. */
export function heartbeatWildcard(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  return `${assertToken(prefix, 'prefix')}.heartbeat.*`;
}

/** Subject on which a new bundle version of a model is announced: `${prefix}.bundle.${model}`. */
export function bundleAnnounceSubject(prefix: string, model: string): string {
  return `${assertToken(prefix, 'prefix')}.bundle.${assertToken(model, 'model')}`;
}

/** Wildcard matching the bundle announcements of every model: `${prefix}.bundle.*`. */
export function bundleAnnounceWildcard(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  return `${assertToken(prefix, 'prefix')}.bundle.*`;
}

/** KV and object-store bucket names for a prefix, e.g. `cleave_bundles`. */
export function bucketNames(prefix: string = DEFAULT_SUBJECT_PREFIX): BucketNames {
  const p = assertToken(prefix, 'prefix');
  return Object.freeze({
    bundles: `${p}_bundles`,
    current: `${p}_current`,
    policies: `${p}_policies`,
    heartbeats: `${p}_heartbeats`,
  });
}

/**
 * Name of one bundle file in the bundles object store: `${model}/${version}/${path}`, where `path` is the
 * file's relative path in the bundle (as listed in the manifest's `files`).
 */
export function bundleObjectName(model: string, version: string, path: string): string {
  if (!isSafeRelativePath(path)) {
    throw new ProtocolError(
      ProtocolErrorCode.BadToken,
      `bundle path ${describe(path)} is invalid: ${SAFE_RELATIVE_PATH_RULE}`,
    );
  }
  return `${assertToken(model, 'model')}/${assertToken(version, 'version')}/${path}`;
}

/**
 * Name of a content-addressed bundle file in the bundles object store: `blobs/${sha256}`, where `sha256` is the
 * file's lowercase hex digest (as listed in a manifest's `files`). A file shared by several versions (the weights
 * of a re-calibrated model) is stored once. Object names are opaque to NATS (the store base64-encodes them into
 * subjects); the digest is checked so a name can never carry a path or a wildcard.
 */
export function blobObjectName(sha256: string): string {
  if (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256)) {
    throw new ProtocolError(
      ProtocolErrorCode.BadToken,
      `blob sha256 ${describe(sha256)} is invalid: must be 64 lowercase hex digits`,
    );
  }
  return `blobs/${sha256}`;
}

function tokenRule(value: unknown): string {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_TOKEN_LENGTH) return `must be at most ${MAX_TOKEN_LENGTH} characters`;
  const bad = [...value].find((ch) => !/[A-Za-z0-9_-]/.test(ch)) ?? '';
  const why = /\s/.test(bad) ? 'whitespace' : `"${bad}"`;
  return `contains ${why}; only A-Z a-z 0-9 _ - are allowed (no whitespace, '.', '*' or '>')`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return value === null ? 'null' : typeof value;
}
