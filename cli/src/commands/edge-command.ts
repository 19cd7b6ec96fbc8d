import type { Command } from 'commander';
import { startTelemetrySdk } from '@cleave/cloud-service';
import {
  connectEdgeNats,
  createEdgeAgent,
  EDGE_TELEMETRY_SCOPE,
  type EdgeFlagValue,
  edgeNatsOptions,
  resolveEdgeConfig,
} from '@cleave/edge-agent';
import type { CliContext } from '../cli-context.js';

/** Flags of `cleave edge` and the config paths they set. Values stay strings: the schema checks them all at once. */
const EDGE_FLAGS = [
  ['--agent-id <id>', 'agentId', 'this agent id (heartbeat key, local NATS subject)'],
  ['--nats-url <urls>', 'nats.servers', 'NATS server URLs, comma-separated'],
  ['--prefix <prefix>', 'prefix', 'subject prefix and bucket stem'],
  ['--model <models>', 'models', 'models to serve, comma-separated; `id:split` pins a split'],
  ['--cache-dir <dir>', 'cacheDir', 'where fetched bundles are kept (a restart offline serves from here)'],
  ['--http-host <host>', 'http.host', 'interface of the local API (default 127.0.0.1)'],
  ['--http-port <port>', 'http.port', 'port of the local API (0: any free port)'],
  ['--battery-path <dir>', 'battery.path', 'power-supply directory (default /sys/class/power_supply)'],
  ['--deadline-ms <ms>', 'policy.deadlineMs', 'default request deadline'],
  ['--otlp-endpoint <url>', 'telemetry.otlpEndpoint', 'OTLP/HTTP collector for traces and metrics'],
  ['--creds <file>', 'nats.credsFile', 'NATS credentials file (JWT + nkey)'],
] as const;

/** Registers `cleave edge`: the edge agent daemon, until SIGINT or SIGTERM, then a graceful drain. */
export function registerEdgeCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('edge')
    .description(
      'Run the edge agent: local inference API, early exits, offload over NATS with local fallback, ' +
        'bandwidth- and battery-driven control, heartbeats; drains on SIGTERM.',
    )
    .option('--config <file>', 'YAML configuration; env and flags override it');
  for (const [flag, , help] of EDGE_FLAGS) command.option(flag, help);
  command.option('--no-http', 'do not serve the local HTTP API');
  command.option('--no-nats-api', 'do not serve the local API on NATS');
  command.action(async (opts: Record<string, unknown>) => {
    const flags: EdgeFlagValue[] = [];
    for (const [flag, path] of EDGE_FLAGS) {
      const value = opts[camelCase(flag)];
      if (typeof value === 'string') flags.push({ path, value, flag: flag.split(' ')[0]! });
    }
    if (opts['http'] === false) flags.push({ path: 'http.enabled', value: false, flag: '--no-http' });
    if (opts['natsApi'] === false) flags.push({ path: 'natsApi.enabled', value: false, flag: '--no-nats-api' });
    const config = await resolveEdgeConfig({
      ...(typeof opts['config'] === 'string' ? { configPath: opts['config'] } : {}),
      env: ctx.env,
      flags,
    });
    const log = ctx.log.child({ agentId: config.agentId });
    const telemetry = await startTelemetrySdk({
      scope: EDGE_TELEMETRY_SCOPE,
      serviceName: config.telemetry.serviceName,
      instanceId: config.agentId,
      ...(config.telemetry.otlpEndpoint === undefined ? {} : { otlpEndpoint: config.telemetry.otlpEndpoint }),
    });
    // Credential files are read now, so a bad one stops the daemon before it serves anything.
    const natsOptions = await edgeNatsOptions(config);
    // The agent serves from its cache at once; NATS attaches whenever the first connection succeeds.
    let nc: Awaited<ReturnType<typeof connectEdgeNats>> | undefined;
    const connecting = connectEdgeNats(natsOptions).then((connection) => {
      nc = connection;
      log.info({ server: connection.getServer() }, 'connected to NATS');
      return connection;
    });
    const agent = createEdgeAgent({
      config,
      nc: connecting,
      logger: log,
      tracer: telemetry.tracer,
      meter: telemetry.meter,
      metrics: () => telemetry.renderPrometheus(),
    });
    await agent.start();
    log.info(
      {
        models: config.models,
        http: agent.httpUrl ?? null,
        servers: config.nats.servers,
        prefix: config.prefix,
        cacheDir: config.cacheDir,
        ready: agent.health().ready,
      },
      'edge agent started',
    );
    // Connecting retries forever; it fails only on what retrying cannot fix (e.g. refused credentials).
    const failed = connecting.then(
      () => new Promise<never>(() => undefined),
      (error: unknown) => error as Error,
    );
    const reason = await Promise.race([ctx.shutdownSignal, failed]);
    log.info({ reason: String(reason) }, 'draining');
    await agent.close();
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => undefined);
    await telemetry.shutdown();
    if (reason instanceof Error) throw new Error(`cannot connect to NATS: ${reason.message}`, { cause: reason });
    log.info({ reason }, 'edge agent exited');
  });
}

function camelCase(flag: string): string {
  return flag
    .split(' ')[0]!
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
