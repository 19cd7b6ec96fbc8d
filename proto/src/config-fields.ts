// Configuration fields every Cleave program shares (the cloud replica and the edge agent today): subject tokens,
// byte sizes, NATS URLs, the `nats` connection section with its cross-field rules, and the error that lists every
// problem. One definition, so a setting is spelled, defaulted and reported the same way everywhere.
import { z } from 'zod';
import { CodedError } from './coded-error.js';
import type { ConfigEnvSpec, CrossFieldProblem } from './layered-config.js';
import { isValidToken } from './subjects.js';

/** A NATS subject token such as an agent id or prefix. */
export const configToken = z.string().refine(isValidToken, { message: 'must be 1-128 characters of A-Z a-z 0-9 _ -' });

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Bytes as a positive integer, or a string such as `512MiB` or `2GB`. */
export const byteSize = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
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

/** A NATS server URL, or `host:port`. */
export const natsUrl = z
  .string()
  .regex(/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+:\d+$/, 'must be a NATS URL such as nats://host:4222');

const filePath = z.string().min(1);

/**
 * The `nats` section: servers, at most one authentication method (see {@link natsCrossFieldProblems}) and TLS.
 * `clientName` is the default connection name the server lists.
 */
export function natsSettingsObject(clientName: string) {
  return z.strictObject({
    servers: z.array(natsUrl).min(1).default(['nats://127.0.0.1:4222']),
    name: z.string().min(1).default(clientName),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    nkeySeedFile: filePath.optional(),
    credsFile: filePath.optional(),
    // Where replies to this client go. Unset: `_INBOX.<identity>`, the prefix deploy/nats/accounts.conf grants each
    // user, so no client can subscribe to another's replies (see inboxPrefixFor in node-runtime).
    inboxPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'must be a subject without wildcards, e.g. _INBOX.gw-wifi')
      .optional(),
    tls: z
      .strictObject({
        caFile: filePath.optional(),
        certFile: filePath.optional(),
        keyFile: filePath.optional(),
        handshakeFirst: z.boolean().default(false),
      })
      .optional(),
  });
}

/** Environment variables of the `nats` section, the same for every Cleave program. */
export const NATS_CONFIG_ENV: Readonly<Record<string, ConfigEnvSpec>> = Object.freeze({
  NATS_URL: { path: 'nats.servers', kind: 'list' },
  CLEAVE_NATS_USER: { path: 'nats.user', kind: 'string' },
  CLEAVE_NATS_PASS: { path: 'nats.pass', kind: 'string' },
  CLEAVE_NATS_TOKEN: { path: 'nats.token', kind: 'string' },
  CLEAVE_NATS_CREDS: { path: 'nats.credsFile', kind: 'string' },
  CLEAVE_NATS_NKEY_SEED_FILE: { path: 'nats.nkeySeedFile', kind: 'string' },
  CLEAVE_NATS_INBOX_PREFIX: { path: 'nats.inboxPrefix', kind: 'string' },
  CLEAVE_NATS_TLS_CA: { path: 'nats.tls.caFile', kind: 'string' },
  CLEAVE_NATS_TLS_CERT: { path: 'nats.tls.certFile', kind: 'string' },
  CLEAVE_NATS_TLS_KEY: { path: 'nats.tls.keyFile', kind: 'string' },
});

/**
 * Rules that span fields of a raw (unvalidated) `nats` section: one authentication method, user with pass,
 * certificate with key. It reads defensively, so it reports even when other fields fail the schema.
 */
export function natsCrossFieldProblems(raw: unknown): CrossFieldProblem[] {
  const nats = plainRecord(raw);
  if (nats === undefined) return [];
  const problems: CrossFieldProblem[] = [];
  const has = (key: string) => nats[key] !== undefined;
  const methods = [
    has('user') || has('pass') ? 'user/pass' : undefined,
    has('token') ? 'token' : undefined,
    has('nkeySeedFile') ? 'nkeySeedFile' : undefined,
    has('credsFile') ? 'credsFile' : undefined,
  ].filter((m) => m !== undefined);
  if (methods.length > 1) {
    problems.push({ path: ['nats'], message: `choose one authentication method, not ${methods.join(' and ')}` });
  }
  if (has('user') !== has('pass')) {
    problems.push({ path: ['nats', has('user') ? 'pass' : 'user'], message: 'user and pass go together' });
  }
  const tls = plainRecord(nats['tls']);
  if (tls !== undefined && (tls['certFile'] === undefined) !== (tls['keyFile'] === undefined)) {
    problems.push({ path: ['nats', 'tls'], message: 'certFile and keyFile go together (client certificate)' });
  }
  return problems;
}

/** The value as a plain object, or undefined; for reading raw configuration defensively. */
export function plainRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A configuration is invalid. `issues` lists every problem, each naming its field and source. */
export class InvalidConfigError extends CodedError<'invalid_config'> {
  override readonly name: string = 'InvalidConfigError';
  constructor(readonly issues: readonly string[]) {
    super(
      'invalid_config',
      `invalid configuration (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}):\n${issues
        .map((issue) => `  - ${issue}`)
        .join('\n')}`,
    );
  }
}
