import { z } from 'zod';
import { type ConfigFlagValue, NATS_CONFIG_ENV, resolveLayeredConfig } from '@cleave/proto';
import { crossFieldIssues, NatsSettingsSchema } from './cloud-config-schema.js';
import { ConfigError } from './resolve-cloud-config.js';
import type { NatsClientSettings } from './service-settings.js';

const NatsOnlySchema = z.strictObject({ nats: NatsSettingsSchema });

/**
 * NATS settings for tools without a config file (the console): the same environment variables as `cleave cloud`
 * and `cleave edge` (NATS_URL, CLEAVE_NATS_*), then flags over them (paths such as `nats.user`). Every problem
 * (a bad URL, two authentication methods, a user without a pass) is reported at once as a ConfigError.
 */
export function resolveNatsSettings(
  env: Readonly<Record<string, string | undefined>>,
  flags: readonly ConfigFlagValue[],
  clientName: string,
): NatsClientSettings {
  const result = resolveLayeredConfig({
    schema: NatsOnlySchema,
    envSpec: NATS_CONFIG_ENV,
    defaults: { 'nats.name': clientName },
    env,
    flags,
    crossField: crossFieldIssues,
  });
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config.nats;
}
