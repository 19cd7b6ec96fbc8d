import { hostname } from 'node:os';
import type { Command } from 'commander';
import {
  CLOUD_SERVICE_VERSION,
  type FlagValue,
  resolveCloudConfig,
  startCloudReplica,
  startTelemetrySdk,
} from '@cleave/cloud-service';
import type { CliContext } from '../cli-context.js';

/** Flags of `cleave cloud` and the config paths they set. Values stay strings: the config schema checks them all at once. */
const CLOUD_FLAGS = [
  ['--nats-url <urls>', 'nats.servers', 'NATS server URLs, comma-separated'],
  ['--prefix <prefix>', 'prefix', 'subject prefix and bucket stem'],
  ['--replica <name>', 'replica', 'replica name in replies and logs (default: host-pid)'],
  ['--max-batch-size <n>', 'batching.maxBatchSize', 'most samples per tail run'],
  ['--max-queue-delay-us <us>', 'batching.maxQueueDelayUs', 'longest wait for a fuller batch, in microseconds'],
  ['--max-queue-requests <n>', 'batching.maxQueueRequests', 'queued requests per tail before `overloaded`'],
  ['--max-in-flight <n>', 'limits.maxInFlight', 'requests held at once before `overloaded`'],
  ['--max-in-flight-bytes <size>', 'limits.maxInFlightBytes', 'bytes of requests held at once, e.g. 256MiB'],
  ['--tail-memory <size>', 'limits.tailMemory', 'ONNX bytes of tails kept loaded, e.g. 512MiB'],
  ['--intra-op-threads <n>', 'onnx.intraOpThreads', 'onnxruntime threads per run (0: all cores)'],
  ['--http-host <host>', 'http.host', 'interface of /livez, /readyz and /metrics'],
  ['--http-port <port>', 'http.port', 'port of /livez, /readyz and /metrics (0: any free port)'],
  ['--otlp-endpoint <url>', 'telemetry.otlpEndpoint', 'OTLP/HTTP collector for traces and metrics'],
  ['--creds <file>', 'nats.credsFile', 'NATS credentials file (JWT + nkey)'],
] as const;

/** Registers `cleave cloud`: one replica of the tail service, until SIGINT or SIGTERM, then a graceful drain. */
export function registerCloudCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('cloud')
    .description(
      'Run a cloud replica: serve tails over NATS (queue group cleave-tail) with dynamic batching; drain on SIGTERM.',
    )
    .option('--config <file>', 'YAML configuration; env and flags override it');
  for (const [flag, , help] of CLOUD_FLAGS) command.option(flag, help);
  command.option('--no-http', 'do not serve /livez, /readyz and /metrics');
  command.action(async (opts: Record<string, unknown>) => {
    const flags: FlagValue[] = [];
    for (const [flag, path] of CLOUD_FLAGS) {
      const value = opts[camelCase(flag)];
      if (typeof value === 'string') flags.push({ path, value, flag: flag.split(' ')[0]! });
    }
    if (opts['http'] === false) flags.push({ path: 'http.enabled', value: false, flag: '--no-http' });
    const config = await resolveCloudConfig({
      ...(typeof opts['config'] === 'string' ? { configPath: opts['config'] } : {}),
      env: ctx.env,
      flags,
      defaults: { replica: `${hostname()}-${process.pid}` },
    });
    const telemetry = await startTelemetrySdk({
      serviceName: config.telemetry.serviceName,
      instanceId: config.replica,
      ...(config.telemetry.otlpEndpoint === undefined ? {} : { otlpEndpoint: config.telemetry.otlpEndpoint }),
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
  });
}

function camelCase(flag: string): string {
  return flag
    .split(' ')[0]!
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
