import { z } from 'zod';
import {
  bundleTrustFields,
  byteSize,
  configToken as token,
  type CrossFieldProblem,
  natsCrossFieldProblems,
  natsSettingsObject,
  plainRecord,
} from '@cleave/proto';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** The `nats` section: servers, at most one authentication method (checked by crossFieldIssues), TLS. */
export const NatsSettingsSchema = natsSettingsObject('cleave-cloud').prefault({});

/** Schema of the cloud service configuration (YAML file, env and flags merged). Unknown keys are errors. */
export const CloudConfigSchema = z.strictObject({
  /** Replica name in replies and logs. */
  replica: z.string().min(1).max(256),
  /** Subject prefix and bucket stem. */
  prefix: token.default('cleave'),
  nats: NatsSettingsSchema,
  batching: z
    .strictObject({
      maxBatchSize: positiveInt.max(4096).default(32),
      maxQueueDelayUs: nonNegativeInt.max(10_000_000).default(2000),
      maxQueueRequests: positiveInt.max(1_000_000).default(256),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxInFlight: positiveInt.max(1_000_000).default(1024),
      maxInFlightBytes: byteSize.default(256 * 1024 ** 2),
      tailMemory: byteSize.default(512 * 1024 ** 2),
      negativeCacheMs: nonNegativeInt.default(5000),
      maxElements: positiveInt.default(16_777_216),
      /** Most elements across one request's tensors (every sample counted); past it, `too_large` before decoding. */
      maxElementsPerRequest: positiveInt.default(16_777_216),
    })
    .prefault({}),
  onnx: z
    .strictObject({
      intraOpThreads: nonNegativeInt.max(256).default(0),
      interOpThreads: positiveInt.max(256).default(1),
      allowSpinning: z.boolean().default(false),
      /** Keep onnxruntime's memory arena (faster repeated runs, but memory held at its peak after a burst). */
      memoryArena: z.boolean().default(false),
    })
    .prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      port: nonNegativeInt.max(65535).default(9464),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      serviceName: z.string().min(1).default('cleave-cloud'),
      otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    })
    .prefault({}),
  drain: z.strictObject({ timeoutMs: positiveInt.default(30_000) }).prefault({}),
  /**
   * Where the replica keeps its copy of the tail graphs and weights files of shared-weights bundles: one directory
   * per replica under `dir` (default: the system's temporary directory), created at start and removed on stop.
   */
  cache: z.strictObject({ dir: z.string().min(1).optional() }).prefault({}),
  /** Whose bundles the replica loads: signed by one of these keys, unless `allowUnsigned` (development). */
  bundles: z.strictObject(bundleTrustFields).prefault({}),
  /** Load and warm the cloud tails of each version as it becomes current, and of every current version at start. */
  prewarm: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
});

/** A problem found across fields: where, and what. */
export type CrossFieldIssue = CrossFieldProblem;

/**
 * Checks that span fields (the `nats` section's: one authentication method, user with pass, certificate with key).
 * Reads the raw merged value defensively, so it reports even when other fields fail the schema.
 */
export function crossFieldIssues(raw: unknown): CrossFieldIssue[] {
  return natsCrossFieldProblems(plainRecord(raw)?.['nats']);
}

/** The validated configuration, with every default filled in. */
export type CloudConfig = z.output<typeof CloudConfigSchema>;
