// The body of `cleave edge`: resolve the configuration once, start telemetry and the agent (it serves from its
// cache at once; NATS attaches whenever the first connection succeeds), wait for a signal, drain.
import { startTelemetrySdk } from '@cleave/node-runtime';
import { type CommandContext, configFlagValues } from '@cleave/node-runtime/command-line';
import { connectEdgeNats, edgeNatsOptions } from './config/nats-connect-options.js';
import { resolveEdgeConfig } from './config/resolve-edge-config.js';
import { EDGE_FLAGS } from './edge-command.js';
import { createEdgeAgent } from './edge-agent.js';
import { EDGE_TELEMETRY_SCOPE } from './telemetry/edge-telemetry.js';

/** Runs the agent with the parsed options of {@link EDGE_FLAGS} until SIGINT/SIGTERM or refused credentials. */
export async function runEdgeAgent(opts: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<void> {
  const flags = configFlagValues(opts, EDGE_FLAGS);
  if (opts['http'] === false) flags.push({ path: 'http.enabled', value: false, flag: '--no-http' });
  if (opts['natsApi'] === false) flags.push({ path: 'natsApi.enabled', value: false, flag: '--no-nats-api' });
  const config = await resolveEdgeConfig({
    ...(typeof opts['config'] === 'string' ? { configPath: opts['config'] } : {}),
    env: ctx.env,
    flags,
  });
  const log = ctx.log.child({ agentId: config.agentId });
  // serviceName and otlpEndpoint, as configured (file, OTEL_SERVICE_NAME / OTEL_EXPORTER_OTLP_ENDPOINT, flags).
  const telemetry = await startTelemetrySdk({
    scope: EDGE_TELEMETRY_SCOPE,
    instanceId: config.agentId,
    instanceAttributes: { agent: config.agentId },
    env: ctx.env,
    ...config.telemetry,
  });
  // Credential files are read now, so a bad one stops the daemon before it serves anything.
  const natsOptions = await edgeNatsOptions(config);
  let nc: Awaited<ReturnType<typeof connectEdgeNats>> | undefined;
  // Each failed attempt is logged: an agent pointed at the wrong URL says so instead of serving silently offline.
  const connecting = connectEdgeNats(natsOptions, ({ attempt, servers, reason, retryInMs }) =>
    log.warn(
      { attempt, servers, reason, retryInMs },
      `NATS unreachable at ${servers.join(', ')} (${reason}); retrying in ${retryInMs} ms (set --nats-url or NATS_URL)`,
    ),
  ).then((connection) => {
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
    snapshots: telemetry.snapshots,
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
}
