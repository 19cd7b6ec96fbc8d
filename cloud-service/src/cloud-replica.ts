// A whole replica as `cleave cloud` runs it: NATS connection, tail service and health/metrics server, started and
// stopped in the right order. The command (`cloud-command.ts`) owns the process (signals, env, exit code) and the telemetry SDK.
import type { NatsConnection } from '@nats-io/transport-node';
import type { CloudConfig } from './config/cloud-config-schema.js';
import {
  connectNats,
  createHealthApp,
  type HttpServer,
  startHttpServer,
  type TelemetrySdk,
} from '@cleave/node-runtime';
import { tailServiceSettings } from './config/service-settings.js';
import { createTailService, type ServiceLogger, type TailService } from './service/tail-service.js';

/** What {@link startCloudReplica} needs. */
export interface CloudReplicaDeps {
  readonly config: CloudConfig;
  readonly logger: ServiceLogger;
  /** Semver reported in $SRV.INFO. */
  readonly serviceVersion: string;
  readonly telemetry?: TelemetrySdk;
}

/** A running replica. */
export interface CloudReplica extends AsyncDisposable {
  readonly nc: NatsConnection;
  readonly service: TailService;
  /** The health server, when `http.enabled`. */
  readonly http: HttpServer | undefined;
  /** Graceful stop: drain the service (finishing in-flight work), close it, close HTTP, then drain NATS. */
  stop(): Promise<void>;
}

/** Connects, starts the tail service, then the HTTP probes. Fails fast (nothing left running) on any error. */
export async function startCloudReplica(deps: CloudReplicaDeps): Promise<CloudReplica> {
  const { config, logger, telemetry } = deps;
  const nc = await connectNats(config.nats, `${config.nats.name}:${config.replica}`);
  const service = createTailService({
    nc,
    settings: tailServiceSettings(config, deps.serviceVersion),
    logger,
    ...(telemetry === undefined ? {} : { tracer: telemetry.tracer, meter: telemetry.meter }),
  });
  let http: HttpServer | undefined;
  try {
    await service.start();
    if (config.http.enabled) {
      const app = createHealthApp({
        health: () => service.health(),
        ...(telemetry === undefined ? {} : { metrics: () => telemetry.renderPrometheus() }),
      });
      http = await startHttpServer(app, { host: config.http.host, port: config.http.port });
      logger.info({ url: http.url }, 'health and metrics listening');
    }
  } catch (error) {
    await service.close().catch(() => undefined);
    await nc.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await service.close();
      await http?.close();
      await nc.drain().catch(() => undefined);
    })();
    return stopping;
  };
  return { nc, service, http, stop, [Symbol.asyncDispose]: stop };
}
