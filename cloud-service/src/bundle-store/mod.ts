/**
 * `@cleave/cloud-service/bundle-store`: publish, fetch and verify bundles with a NATS Object Store and KV. Imports
 * only NATS clients, `@cleave/proto` and `node:` modules, so the edge agent can use it without the service.
 */
export { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store-error.js';
export {
  MANIFEST_FILE,
  readLocalManifest,
  sha256Hex,
  verifyLocalBundle,
  type ManifestWithBytes,
} from './bundle-files.js';
export {
  createBundleReader,
  currentVersion,
  readBundleFile,
  type BundleReader,
  type BundleStoreOptions,
  type ReadManifestOptions,
} from './bundle-reader.js';
export { openHeartbeatKv } from './store-buckets.js';
export { fetchBundle, type FetchBundleOptions, type FetchedBundle } from './fetch-bundle.js';
export { publishBundle, type PublishBundleOptions, type PublishedBundle } from './publish-bundle.js';
export {
  watchCurrent,
  type CurrentVersionUpdate,
  type CurrentVersionWatch,
  type WatchCurrentOptions,
} from './watch-current.js';
