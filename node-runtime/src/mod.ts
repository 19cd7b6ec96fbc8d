/**
 * Public entry of @cleave/node-runtime: the Node.js code both daemons (the edge agent and the cloud replica) and
 * the operator tools share. It imports `@cleave/proto`, NATS clients, hono and OpenTelemetry, never a daemon:
 * the edge agent and the cloud service depend on it and on `@cleave/proto`, never on each other.
 */
export { sha256Hex } from './hashing.js';
export { pathExists } from './path-exists.js';

// The bundle store: publish, fetch and verify bundles with a NATS Object Store and KV.
export { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store/bundle-store-error.js';
export {
  agentBundleFiles,
  assertCandidateFetched,
  candidateFiles,
  filesOfCandidates,
  listsCandidateFiles,
  missingFiles,
  readLocalManifest,
  type ManifestWithBytes,
} from './bundle-store/bundle-files.js';
export {
  createBundleReader,
  currentVersion,
  readBundleFile,
  type BundleReader,
  type BundleStoreOptions,
  type ReadManifestOptions,
} from './bundle-store/bundle-reader.js';
export {
  HEARTBEAT_HISTORY_LIMITS,
  heartbeatHistoryStream,
  isStreamNotFound,
  openHeartbeatHistory,
  openHeartbeatKv,
} from './bundle-store/store-buckets.js';
export {
  addBundleFiles,
  fetchBundle,
  type BundleFileSelector,
  type FetchBundleOptions,
  type FetchedBundle,
  type FetchStats,
} from './bundle-store/fetch-bundle.js';
export { checkBundleDir, localBlobPath, pruneBlobs, type BundleDirCheck } from './bundle-store/local-blobs.js';
export { publishBundle, type PublishBundleOptions, type PublishedBundle } from './bundle-store/publish-bundle.js';
export {
  bundleTrustNotice,
  createPublisherKey,
  isBundleRefusal,
  publisherPublicKey,
  readPublisherSeed,
  signBundleDir,
  signManifest,
  verifyManifest,
  type BundleTrust,
  type ManifestSigner,
} from './bundle-store/bundle-signature.js';
export {
  watchCurrent,
  type CurrentVersionUpdate,
  type CurrentVersionWatch,
  type WatchCurrentOptions,
} from './bundle-store/watch-current.js';

// NATS connections and configuration shared by every program.
export { ConfigError, readConfigText, type ConfigFileText } from './config/config-error.js';
export { connectNats, natsConnectOptions, type NatsClientSettings } from './nats/nats-connect-options.js';
export { connectWithRetry, type ConnectRetry, type ConnectWithRetryOptions } from './nats/connect-with-retry.js';
export { inboxPrefixFor } from './nats/client-inbox.js';
export { FLEET_ROLES, parseFleetState, type FleetRole, type FleetState } from './nats/fleet-state.js';
export { resolveNatsSettings } from './nats/resolve-nats-settings.js';

// HTTP: probes, /metrics and the listener.
export {
  addProbeRoutes,
  createHealthApp,
  startHttpServer,
  type FetchHandler,
  type HealthAppDeps,
  type HttpServer,
  type ProbeHealth,
} from './http/http-server.js';

// Telemetry. The command-line pieces (logger, flags, process context) are `@cleave/node-runtime/command-line`.
export { startTelemetrySdk, type TelemetrySdk, type TelemetrySdkOptions } from './telemetry/telemetry-sdk.js';
export { LATENCY_BUCKETS_SECONDS, msToSeconds } from './telemetry/metric-conventions.js';
export type { SnapshotFamily, SnapshotMetrics, SnapshotPoint } from './telemetry/snapshot-metrics.js';
export {
  natsParentContext,
  remoteParentContext,
  traceHeaders,
  type TraceHeaders,
} from './telemetry/trace-propagation.js';
