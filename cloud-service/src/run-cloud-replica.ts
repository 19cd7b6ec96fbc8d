// The body of `cleave cloud`: resolve the configuration once, start telemetry and the replica, wait for a signal
// or a lost connection, drain. Loaded only when the command runs.
import { hostname } from 'node:os';
import { startTelemetrySdk } from '@cleave/node-runtime';
import { type CommandContext, configFlagValues } from '@cleave/node-runtime/command-line';
import { CLOUD_FLAGS } from './cloud-command.js';
import { startCloudReplica } from './cloud-replica.js';
import { resolveCloudConfig } from './config/resolve-cloud-config.js';
import { CLOUD_SERVICE_VERSION } from './service-version.js';
import { TELEMETRY_SCOPE } from './telemetry/service-telemetry.js';

/** Runs one replica with the parsed options of {@link CLOUD_FLAGS} until SIGINT/SIGTERM or the connection ends. */
export async function runCloudReplica(opts: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<void> {
  const flags = configFlagValues(opts, CLOUD_FLAGS);
  if (opts['http'] === false) flags.push({ path: 'http.enabled', value: false, flag: '--no-http' });
  if (opts['prewarm'] === false) flags.push({ path: 'prewarm.enabled', value: false, flag: '--no-prewarm' });
  const config = await resolveCloudConfig({
    ...(typeof opts['config'] === 'string' ? { configPath: opts['config'] } : {}),
    env: ctx.env,
    flags,
    defaults: { replica: `${hostname()}-${process.pid}` },
  });
  // serviceName and otlpEndpoint, as configured (file, OTEL_SERVICE_NAME / OTEL_EXPORTER_OTLP_ENDPOINT, flags).
  const telemetry = await startTelemetrySdk({
    scope: TELEMETRY_SCOPE,
    instanceId: config.replica,
    instanceAttributes: { replica: config.replica },
    env: ctx.env,
    ...config.telemetry,
  });
  const log = ctx.log;
  const replica = await startCloudReplica({ config, logger: log, telemetry, serviceVersion: CLOUD_SERVICE_VERSION });
  log.info(
    {
      replica: config.replica,
      servers: config.nats.servers,
      prefix: config.prefix,
      batching: config.batching,
      maxInFlight: config.limits.maxInFlight,
      tailMemory: config.limits.tailMemory,
      prewarm: config.prewarm.enabled,
      otlp: config.telemetry.otlpEndpoint ?? null,
    },
    'cloud replica ready',
  );
  const closed = replica.nc.closed().then(() => 'NATS connection closed');
  const reason = await Promise.race([ctx.shutdownSignal, closed]);
  log.info({ reason, ...replica.service.stats() }, 'draining');
  await replica.stop();
  await telemetry.shutdown();
  log.info({ reason }, 'cloud replica stopped');
}
