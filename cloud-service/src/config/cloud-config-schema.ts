import { z } from 'zod';
import { isValidToken } from '@cleave/proto';

const token = z.string().refine(isValidToken, { message: 'must be 1-128 characters of A-Z a-z 0-9 _ -' });
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const path = z.string().min(1);

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Bytes as a number, or a string such as `512MiB` or `2GB`. */
const byteSize = z.union([positiveInt, z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (match === null || factor === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size; use bytes or a unit: KB, MB, GB, KiB, MiB, GiB`,
    });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * factor);
});

const natsUrl = z
  .string()
  .regex(/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+:\d+$/, 'must be a NATS URL such as nats://host:4222');

/** The `nats` section: servers, at most one authentication method (checked by crossFieldIssues), TLS. */
export const NatsSettingsSchema = z
  .strictObject({
    servers: z.array(natsUrl).min(1).default(['nats://127.0.0.1:4222']),
    name: z.string().min(1).default('cleave-cloud'),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    nkeySeedFile: path.optional(),
    credsFile: path.optional(),
    tls: z
      .strictObject({
        caFile: path.optional(),
        certFile: path.optional(),
        keyFile: path.optional(),
        handshakeFirst: z.boolean().default(false),
      })
      .optional(),
  })
  .prefault({});

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
    })
    .prefault({}),
  onnx: z
    .strictObject({
      intraOpThreads: nonNegativeInt.max(256).default(0),
      interOpThreads: positiveInt.max(256).default(1),
      allowSpinning: z.boolean().default(false),
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
});

/** A problem found across fields: where, and what. */
export interface CrossFieldIssue {
  readonly path: readonly string[];
  readonly message: string;
}

/**
 * Checks that span fields (one authentication method, user with pass, certificate with key). Reads the raw merged
 * value defensively, so it reports even when other fields fail the schema: every problem is listed in one go.
 */
export function crossFieldIssues(raw: unknown): CrossFieldIssue[] {
  const nats = record(record(raw)?.['nats']);
  if (nats === undefined) return [];
  const issues: CrossFieldIssue[] = [];
  const has = (key: string) => nats[key] !== undefined;
  const methods = [
    has('user') || has('pass') ? 'user/pass' : undefined,
    has('token') ? 'token' : undefined,
    has('nkeySeedFile') ? 'nkeySeedFile' : undefined,
    has('credsFile') ? 'credsFile' : undefined,
  ].filter((m) => m !== undefined);
  if (methods.length > 1) {
    issues.push({ path: ['nats'], message: `choose one authentication method, not ${methods.join(' and ')}` });
  }
  if (has('user') !== has('pass')) {
    issues.push({ path: ['nats', has('user') ? 'pass' : 'user'], message: 'user and pass go together' });
  }
  const tls = record(nats['tls']);
  if (tls !== undefined && (tls['certFile'] === undefined) !== (tls['keyFile'] === undefined)) {
    issues.push({ path: ['nats', 'tls'], message: 'certFile and keyFile go together (client certificate)' });
  }
  return issues;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The validated configuration, with every default filled in. */
export type CloudConfig = z.output<typeof CloudConfigSchema>;
