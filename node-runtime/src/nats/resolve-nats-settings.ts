import { z } from 'zod';
import {
  type ConfigFlagValue,
  NATS_CONFIG_ENV,
  natsCrossFieldProblems,
  natsSettingsObject,
  plainRecord,
  resolveLayeredConfig,
} from '@cleave/proto';
import { ConfigError } from '../config/config-error.js';
import type { NatsClientSettings } from './nats-connect-options.js';

/**
 * NATS settings for tools without a config file (the console, `cleave publish`): the same environment variables
 * as `cleave cloud` and `cleave edge` (NATS_URL, CLEAVE_NATS_*), then flags over them (paths such as `nats.user`).
 * Every problem (a bad URL, two authentication methods, a user without a pass) is reported at once as a
 * ConfigError.
 */
export function resolveNatsSettings(
  env: Readonly<Record<string, string | undefined>>,
  flags: readonly ConfigFlagValue[],
  clientName: string,
): NatsClientSettings {
  const result = resolveLayeredConfig({
    schema: z.strictObject({ nats: natsSettingsObject(clientName).prefault({}) }),
    envSpec: NATS_CONFIG_ENV,
    env,
    flags,
    crossField: (raw) => natsCrossFieldProblems(plainRecord(raw)?.['nats']),
  });
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config.nats;
}
