/**
 * Public entry of @cleave/console: the operator console (Hono), reading the fleet, the replicas, the bundles and
 * the policies from NATS. Its own package, so neither daemon carries the web UI. The command is
 * `@cleave/console/cli`.
 */
import { type FetchHandler, type HttpServer, startHttpServer } from '@cleave/node-runtime';

export { createConsoleApp, type ConsoleAppDeps } from './console-app.js';
export { createConsoleAuth, CSRF_HEADER, type ConsoleAuth, type Principal } from './console-auth.js';
export {
  createConsoleData,
  type AuditEntry,
  type CloudReplicaView,
  type ConsoleData,
  type FleetAgent,
  type ModelBundles,
} from './console-data.js';
export { type ConsoleEnv } from './console-api.js';

/** A listening console. */
export type ConsoleServer = HttpServer;

/** Serves the console app; binds to 127.0.0.1 unless told otherwise. Port 0 (the default) picks a free port. */
export function startConsoleServer(
  app: FetchHandler,
  options: { host?: string; port?: number } = {},
): Promise<ConsoleServer> {
  return startHttpServer(app, { host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
}
