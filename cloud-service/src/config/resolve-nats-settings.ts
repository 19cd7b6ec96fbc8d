import { crossFieldIssues, NatsSettingsSchema } from './cloud-config-schema.js';
import { ConfigError } from './resolve-cloud-config.js';
import type { NatsClientSettings } from './service-settings.js';

/** The environment variables that carry NATS credentials, shared by `cleave cloud` and `cleave console`. */
export const NATS_ENV = {
  NATS_URL: 'servers',
  CLEAVE_NATS_USER: 'user',
  CLEAVE_NATS_PASS: 'pass',
  CLEAVE_NATS_TOKEN: 'token',
  CLEAVE_NATS_CREDS: 'credsFile',
  CLEAVE_NATS_NKEY_SEED_FILE: 'nkeySeedFile',
  CLEAVE_NATS_TLS_CA: 'caFile',
  CLEAVE_NATS_TLS_CERT: 'certFile',
  CLEAVE_NATS_TLS_KEY: 'keyFile',
} as const;

type NatsField = (typeof NATS_ENV)[keyof typeof NATS_ENV];

/**
 * NATS settings for tools without a config file (the console): env variables, then flags over them. Every
 * problem (a bad URL, two authentication methods, a user without a pass) is reported at once as a ConfigError.
 */
export function resolveNatsSettings(
  env: NodeJS.ProcessEnv,
  flags: Partial<Record<NatsField, string>>,
  clientName: string,
): NatsClientSettings {
  const value = (field: NatsField): string | undefined => {
    const fromFlag = flags[field];
    if (fromFlag !== undefined) return fromFlag;
    const name = (Object.keys(NATS_ENV) as (keyof typeof NATS_ENV)[]).find((k) => NATS_ENV[k] === field)!;
    const fromEnv = env[name];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const servers = value('servers');
  const tls = { caFile: value('caFile'), certFile: value('certFile'), keyFile: value('keyFile') };
  const raw = dropUndefined({
    servers: servers?.split(',').map((s) => s.trim()),
    name: clientName,
    user: value('user'),
    pass: value('pass'),
    token: value('token'),
    credsFile: value('credsFile'),
    nkeySeedFile: value('nkeySeedFile'),
    tls: Object.values(tls).some((v) => v !== undefined) ? dropUndefined(tls) : undefined,
  });
  const problems = crossFieldIssues({ nats: raw }).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  const result = NatsSettingsSchema.safeParse(raw);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => `nats.${issue.path.join('.')}: ${issue.message}`));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
