import { z } from 'zod';
import { CodecSchema, TENSOR_ENCODINGS } from './codecs.js';
import { TensorDtypeSchema } from './dtypes.js';
import { type WireError, WireErrorCode } from './error-codes.js';
import { PROTOCOL_VERSION } from './protocol-version.js';
import { isValidToken } from './subjects.js';
import { type EncodedTensor, MAX_TENSOR_NAME_LENGTH, MAX_TENSOR_RANK } from './tensor-validation.js';

/** The `kind` of every message on the wire. */
export const MessageKind = {
  Infer: 'infer',
  InferReply: 'infer_reply',
  Error: 'error',
  Heartbeat: 'heartbeat',
  Bundle: 'bundle',
} as const;
/** One of {@link MessageKind}. */
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

/** Longest request id and replica name accepted. */
export const MAX_ID_LENGTH = 256;

const token = (what: string) =>
  z.string().refine(isValidToken, { message: `${what} must be 1-128 characters of A-Z a-z 0-9 _ -` });
const version = z.literal(PROTOCOL_VERSION);
const id = z.string().min(1).max(MAX_ID_LENGTH);
const epochMs = z.number().nonnegative();
const nonNegative = z.number().nonnegative();
const count = z.number().int().nonnegative();
const fraction = z.number().min(0).max(1);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** Structure of a tensor on the wire. validateEncodedTensor adds the checks that need several fields at once. */
export const EncodedTensorSchema: z.ZodType<EncodedTensor> = z.object({
  name: z.string().min(1).max(MAX_TENSOR_NAME_LENGTH),
  dtype: TensorDtypeSchema,
  dims: z.array(count).max(MAX_TENSOR_RANK),
  encoding: z.enum(TENSOR_ENCODINGS),
  data: z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'must be binary (msgpack bin)'),
  scale: z.array(z.number().positive()).optional(),
  zeroPoint: z.array(z.number().int().min(-128).max(127)).optional(),
  axis: z.number().int().nonnegative().optional(),
});

/** Edge → cloud: run the tail of (model, version, split) on the cut tensors. */
export const InferRequestSchema = z.object({
  kind: z.literal(MessageKind.Infer),
  v: version,
  /** Correlates the reply and the trace; unique per agent. */
  id,
  model: token('model'),
  version: token('version'),
  split: token('split'),
  tensors: z.array(EncodedTensorSchema).min(1),
  /** Absolute epoch ms after which the agent no longer waits; the cloud drops the work. */
  deadline: z.number().int().nonnegative().optional(),
  /** Agent clock at send time (epoch ms), for transfer-time estimates. */
  sentAt: epochMs,
});
/** Edge → cloud: run the tail of (model, version, split) on the cut tensors. */
export type InferRequest = z.infer<typeof InferRequestSchema>;

/** Cloud → edge: the tail's outputs and where the time went. */
export const InferReplySchema = z.object({
  kind: z.literal(MessageKind.InferReply),
  v: version,
  id,
  outputs: z.array(EncodedTensorSchema),
  /** Time the tail ran, for this request's batch. */
  processingMs: nonNegative,
  /** Time the request waited in the batcher before running. */
  queueMs: nonNegative,
  /** Requests in the batch that carried this one. */
  batchSize: z.number().int().positive(),
  /** Which replica answered, for traces and debugging. */
  replica: z.string().max(MAX_ID_LENGTH).optional(),
});
/** Cloud → edge: the tail's outputs and where the time went. */
export type InferReply = z.infer<typeof InferReplySchema>;

/** Any → any: a request failed; the error as data. `id` is absent when the request could not even be read. */
export const ErrorReplySchema = z.object({
  kind: z.literal(MessageKind.Error),
  v: version,
  id: id.optional(),
  code: z.enum(WireErrorCode),
  message: z.string(),
  retryable: z.boolean(),
});
/** Any → any: a request failed; the error as data. */
export type ErrorReply = z.infer<typeof ErrorReplySchema>;

/** Longest switch reason a heartbeat carries, and how many switches: heartbeats stay small (they are also history). */
export const MAX_SWITCH_REASON = 256;
/** Switches per model a heartbeat carries. */
export const MAX_HEARTBEAT_SWITCHES = 5;

/** One controller switch in a heartbeat: when, from and to `split/codec/objective/budget`, and why. */
const HeartbeatSwitchSchema = z.object({
  at: z.string().max(32),
  from: z.string().max(256).nullable(),
  to: z.string().max(256),
  reason: z.string().max(MAX_SWITCH_REASON),
});

/** Per-model statistics in a heartbeat, over the last heartbeat interval. */
export const HeartbeatModelStatsSchema = z.object({
  model: token('model'),
  version: token('version'),
  /** Split candidate in use. */
  split: token('split'),
  /** Codec used for the cut tensor. */
  codec: CodecSchema,
  /** Where the tail runs when no exit answers; absent means the cloud. */
  tailOn: z.enum(['cloud', 'edge']).optional(),
  /** Share of requests answered by an early exit, 0..1. */
  exitRate: fraction,
  p50Ms: nonNegative,
  p95Ms: nonNegative,
  /** Requests sent to the cloud. */
  offloads: count,
  /** Offloads that fell back to running the tail locally. */
  fallbacks: count,
  requests: count,
  /**
   * Objective the controller is using now. Deliberately any short string, not ObjectiveSchema: a heartbeat is
   * telemetry, and an agent newer than this console may run an objective the console does not know yet.
   */
  objective: z.string().max(32).optional(),
  /** Accuracy budget of the exit operating point in use, in points (its place on the calibrated curve). */
  budgetPoints: nonNegative.optional(),
  /** Calibrated overall accuracy of that operating point, 0..1. */
  expectedAccuracy: fraction.optional(),
  /** Requests answered by an early exit (the console's "where requests ran"); absent from older agents. */
  exits: count.optional(),
  /** Requests whose tail the cloud answered. */
  cloud: count.optional(),
  /** Why the controller chose the decision in use (its latest switch), cut to 256 characters. */
  reason: z.string().max(MAX_SWITCH_REASON).optional(),
  /** The latest switches, oldest first, at most {@link MAX_HEARTBEAT_SWITCHES}: the per-agent page's history. */
  switches: z.array(HeartbeatSwitchSchema).max(MAX_HEARTBEAT_SWITCHES).optional(),
});
/** Per-model statistics in a heartbeat. */
export type HeartbeatModelStats = z.infer<typeof HeartbeatModelStatsSchema>;

/** A bundle version an agent is downloading, in a heartbeat. */
const HeartbeatDownloadSchema = z.object({
  model: token('model'),
  version: token('version'),
  /** Bytes of the version's selected files in place so far. */
  bytes: count,
  /** Bytes of the version's selected files. */
  totalBytes: count,
  /** 0..100. */
  percent: z.number().min(0).max(100),
});
/** Edge → console: an agent's health, link estimates and per-model statistics. */
export const HeartbeatSchema = z.object({
  kind: z.literal(MessageKind.Heartbeat),
  v: version,
  agentId: token('agent id'),
  sentAt: epochMs,
  /** Expected time to the next heartbeat, so the console can mark an agent stale after missing a few. */
  intervalMs: z.number().positive().optional(),
  models: z.array(HeartbeatModelStatsSchema).max(1024),
  bandwidthMbps: nonNegative.optional(),
  rttMs: nonNegative.optional(),
  battery: z.object({ level: fraction, charging: z.boolean() }).optional(),
  lastError: z.string().max(4096).optional(),
  /** State of the agent's circuit breaker towards the cloud (`closed`, `open`, `half-open`); any short string. */
  breaker: z.string().max(16).optional(),
  /** Bundle downloads in progress (absent when idle): how far each rollout has come on this agent's link. */
  downloads: z.array(HeartbeatDownloadSchema).max(1024).optional(),
});
/** Edge → console: an agent's health, link estimates and per-model statistics. */
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** Publisher → everyone: a new bundle version of a model is in the object store. */
export const BundleAnnouncementSchema = z.object({
  kind: z.literal(MessageKind.Bundle),
  v: version,
  model: token('model'),
  version: token('version'),
  /** SHA-256 of the manifest file, so an agent can check what it fetched. */
  manifestSha256: sha256,
  publishedAt: epochMs,
});
/** Publisher → everyone: a new bundle version of a model is in the object store. */
export type BundleAnnouncement = z.infer<typeof BundleAnnouncementSchema>;

/** Every message, discriminated by `kind`. */
export const MessageSchema = z.discriminatedUnion('kind', [
  InferRequestSchema,
  InferReplySchema,
  ErrorReplySchema,
  HeartbeatSchema,
  BundleAnnouncementSchema,
]);
/** Any message of the protocol. */
export type Message = z.infer<typeof MessageSchema>;

/** The message type whose `kind` is `K`. */
export type MessageOfKind<K extends MessageKind> = Extract<Message, { kind: K }>;

/** Narrows `message` to the given kind. */
export function isMessageKind<K extends MessageKind>(message: Message, kind: K): message is MessageOfKind<K> {
  return message.kind === kind;
}

/** Builds the error reply for a failed request. */
export function errorReply(error: WireError, requestId?: string): ErrorReply {
  const reply: ErrorReply = { kind: 'error', v: PROTOCOL_VERSION, ...error };
  return requestId === undefined ? reply : { ...reply, id: requestId };
}
