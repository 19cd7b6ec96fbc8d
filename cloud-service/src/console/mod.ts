/**
 * `@cleave/cloud-service/console`: the operator console (Hono). Kept out of the main entry so the
 * tail workers do not load the web stack.
 */
export { createConsoleApp, type ConsoleAppDeps } from './console-app.js';
export { createConsoleAuth, CSRF_HEADER, SESSION_COOKIE, type ConsoleAuth, type Principal } from './console-auth.js';
export {
  createConsoleData,
  type AuditEntry,
  type CloudReplicaView,
  type ConsoleData,
  type FleetAgent,
  type ModelBundles,
} from './console-data.js';
export { createConsoleApi, planCandidatesFromManifest, type ConsoleEnv } from './console-api.js';
export { startConsoleServer, type ConsoleServer } from './console-server.js';
