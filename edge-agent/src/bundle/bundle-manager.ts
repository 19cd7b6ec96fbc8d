// Which bundle version each model serves, and the hot swap between versions.
//
// A swap is atomic from a request's point of view: the new version is fetched, verified, loaded and warmed while
// the old one keeps serving; then one assignment makes new requests lease the new version. Requests already
// running hold leases on the old one, which releases its sessions when the last of them finishes.
//
// An agent fetches only what it may run: the candidates its plan ranges name, edge-only (where every request
// can end), and any it is told to keep (a pin) — when the bundle lists each candidate's files; older bundles are
// fetched whole. A candidate outside that set (a split pinned later by a live policy) has its files fetched the
// first time it is prepared or a session of it is asked for, while NATS is reachable; offline, the loader refuses
// it with an error naming the missing files.
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BundleManifest } from '@cleave/proto';
import {
  agentBundleFiles,
  candidateFiles,
  currentVersion,
  type CurrentVersionWatch,
  bundleTrustNotice,
  filesOfCandidates,
  isBundleRefusal,
  isBundleStoreError,
  watchCurrent,
} from '@cleave/node-runtime';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import type { BundleCache, CachedBundle } from './bundle-cache.js';
import { type BundleLease, type LoadedBundle, loadBundle } from './loaded-bundle.js';
import { pathExists } from '@cleave/node-runtime';

/** Minimal structured logger (pino's shape). */
export interface AgentLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What {@link createBundleManager} needs. */
export interface BundleManagerDeps {
  readonly models: readonly string[];
  readonly prefix: string;
  readonly cache: BundleCache;
  readonly intraOpThreads: number;
  readonly logger: AgentLogger;
  readonly now: () => number;
  /** Warms what the first requests on a new bundle will use, before it is swapped in. */
  readonly warm: (bundle: LoadedBundle) => Promise<void>;
  /** Called synchronously right after a bundle becomes current (`previous` is still serving its leases). */
  readonly onSwap: (bundle: LoadedBundle, previous: LoadedBundle | undefined) => void;
  /** Called when a fetch or load fails, for the heartbeat's last error. */
  readonly onError: (message: string) => void;
  /** Pause before a failed fetch or a broken watch is tried again. @default 2000 */
  readonly retryMs?: number;
  /**
   * Candidates of `model` to fetch besides the plan's and edge-only, e.g. its configured pin. Others are fetched
   * when first prepared. @default none
   */
  readonly keepCandidates?: (model: string) => readonly string[];
  /**
   * Most bytes per second a bundle download may take, read again before each chunk (e.g. a share of the live
   * uplink estimate), so heartbeats and offloads keep headroom on a slow link. @default no limit
   */
  readonly maxDownloadBytesPerSecond?: () => number;
  /** Wall clock for a download's `startedAt`. @default Date.now */
  readonly wallClock?: () => number;
}

/** A bundle download in progress. */
export interface BundleDownload {
  readonly model: string;
  readonly version: string;
  /** Bytes of the selected files in place so far. */
  readonly bytesDone: number;
  /** Bytes of the selected files. */
  readonly bytesTotal: number;
  /** 0..100. */
  readonly percent: number;
  /** Epoch ms. */
  readonly startedAt: number;
}

/** The bundles of every served model. */
export interface BundleManager extends AsyncDisposable {
  /** Serves whatever the cache holds; resolves when every cached model is loaded. */
  loadFromCache(): Promise<void>;
  /** Starts following the current-version KV on `nc` (fetching and swapping as versions change). */
  attach(nc: NatsConnection): void;
  /** A lease on the current bundle of `model`; throws `unknown_model` or `not_ready`. */
  acquire(model: string): BundleLease;
  current(model: string): LoadedBundle | undefined;
  /** Asks the KV again, e.g. after the cloud answered `version_mismatch`. */
  refresh(model: string): void;
  /** The downloads in progress, one per model at most (empty when idle). */
  downloads(): BundleDownload[];
  /** Resolves when `model` serves `version` (tests and tools). */
  whenServing(model: string, version: string): Promise<void>;
  close(): Promise<void>;
}

/** Creates the manager; nothing is loaded until {@link BundleManager.loadFromCache} or {@link BundleManager.attach}. */
export function createBundleManager(deps: BundleManagerDeps): BundleManager {
  const { cache, logger } = deps;
  const retryMs = deps.retryMs ?? 2000;
  const current = new Map<string, LoadedBundle>();
  const wanted = new Map<string, string>();
  const applying = new Map<string, Promise<void>>();
  const waiters = new Map<string, { version: string; resolve: () => void }[]>();
  const watches = new Set<CurrentVersionWatch>();
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Map<
    string,
    { version: string; controller: AbortController; bytesDone: number; bytesTotal: number; startedAt: number }
  >();
  const wallClock = deps.wallClock ?? Date.now;
  let nc: NatsConnection | undefined;
  let closed = false;

  const selectFor = (model: string) => (manifest: BundleManifest) =>
    agentBundleFiles(manifest, deps.keepCandidates?.(model) ?? []);

  function install(cached: CachedBundle): LoadedBundle {
    const loaded = loadBundle({
      dir: cached.dir,
      manifest: cached.manifest,
      intraOpThreads: deps.intraOpThreads,
      now: deps.now,
    });
    return withFilesOnDemand(loaded, cached);
  }

  // The same bundle, whose prepare() and session() first fetch the files they need when they are not on disk
  // (and NATS is there). Leases hand out this wrapper too, so a request's sessions take the same path.
  function withFilesOnDemand(inner: LoadedBundle, cached: CachedBundle): LoadedBundle {
    const { manifest } = cached;
    const present = new Set<string>();
    const adding = new Map<string, Promise<void>>();

    async function ensure(files: readonly string[]): Promise<void> {
      const missing: string[] = [];
      for (const file of files) {
        if (present.has(file)) continue;
        if (await pathExists(join(cached.dir, file))) present.add(file);
        else missing.push(file);
      }
      const connection = nc;
      if (missing.length === 0 || connection === undefined || closed) return;
      const key = missing.join('\0');
      let job = adding.get(key);
      if (job === undefined) {
        job = cache
          .addFiles(connection, cached, deps.prefix, missing)
          .then((stats) => {
            for (const file of missing) present.add(file);
            logger.info(
              { event: 'bundle_files_added', model: inner.model, version: inner.version, files: missing, ...stats },
              'fetched more files of the bundle',
            );
          })
          .catch((error: unknown) => {
            const reason = (error as Error).message;
            logger.warn(
              { model: inner.model, version: inner.version, files: missing, err: reason },
              'could not fetch more files of the bundle',
            );
            deps.onError(`cannot fetch ${missing.join(', ')} of ${inner.model}@${inner.version}: ${reason}`);
          })
          .finally(() => adding.delete(key));
        adding.set(key, job);
      }
      await job; // on failure the loader reports the missing files itself
    }

    // A graph file's own candidates say what else it needs (the shared weights file).
    const needsOf = (file: string): string[] => {
      const ids = manifest.candidates.filter((c) => c.head === file || c.tail === file).map((c) => c.id);
      return ids.length === 0 ? [file] : [...new Set([file, ...filesOfCandidates(manifest, ids)])];
    };
    const filesOf = (candidateId: string): string[] =>
      manifest.candidates.some((c) => c.id === candidateId) ? candidateFiles(manifest, candidateId) : [];

    const wrapper: LoadedBundle = new Proxy(inner, {
      get(target, property) {
        if (property === 'session') {
          return async (file: string) => {
            await ensure(needsOf(file));
            return target.session(file);
          };
        }
        if (property === 'prepare') {
          return async (candidateId: string) => {
            await ensure(filesOf(candidateId));
            return target.prepare(candidateId);
          };
        }
        if (property === 'acquire') {
          return () => {
            const lease = target.acquire();
            return lease === undefined ? undefined : { bundle: wrapper, release: () => lease.release() };
          };
        }
        return Reflect.get(target, property, target) as unknown;
      },
    });
    return wrapper;
  }

  function swapIn(model: string, next: LoadedBundle, cached: CachedBundle): void {
    const previous = current.get(model);
    current.set(model, next);
    deps.onSwap(next, previous);
    logger.info(
      { event: 'bundle_swap', model, version: next.version, previous: previous?.version ?? null },
      previous === undefined ? 'bundle loaded' : 'bundle hot-swapped',
    );
    for (const waiter of waiters.get(model)?.filter((w) => w.version === next.version) ?? []) waiter.resolve();
    waiters.set(model, waiters.get(model)?.filter((w) => w.version !== next.version) ?? []);
    void cache.writeCurrent(model, cached).catch((error: unknown) => {
      logger.warn({ model, err: (error as Error).message }, 'could not remember the current bundle on disk');
    });
    if (previous !== undefined) {
      // What to keep is decided after the old leases end: a newer version may have arrived meanwhile.
      void previous.retire().then(() => {
        const keep = [current.get(model)?.version, wanted.get(model)].filter((v) => v !== undefined);
        return cache.prune(model, keep).catch(() => undefined);
      });
    }
  }

  async function loadFromCache(): Promise<void> {
    const trust = bundleTrustNotice(cache.trust);
    logger[trust.level](trust.fields, trust.message);
    await Promise.all(
      deps.models.map(async (model) => {
        let cached: CachedBundle | undefined;
        try {
          cached = await cache.readCurrent(model, selectFor(model));
        } catch (error) {
          // Damaged files were removed: the version is fetched again (only what is missing) once NATS is there.
          const message = `cached bundle of ${model} is not served: ${(error as Error).message}`;
          const code = isBundleStoreError(error) ? error.code : undefined;
          logger.warn({ model, code, err: (error as Error).message }, 'cached bundle is not served');
          deps.onError(message);
          return;
        }
        if (cached === undefined || current.has(model)) return;
        const bundle = install(cached);
        try {
          await deps.warm(bundle);
        } catch (error) {
          deps.onError(`cached bundle ${model}@${cached.manifest.version} does not load: ${(error as Error).message}`);
          await bundle.retire();
          return;
        }
        if (!current.has(model)) swapIn(model, bundle, cached);
      }),
    );
  }

  // A new wanted version cancels the download of another one: a rollback, or a newer promotion, starts at once
  // instead of after a slow link finished a version nobody wants any more.
  function want(model: string, version: string): void {
    wanted.set(model, version);
    const download = inFlight.get(model);
    if (download !== undefined && download.version !== version && !download.controller.signal.aborted) {
      logger.info(
        { event: 'bundle_download_cancelled', model, version: download.version, wanted: version },
        'download cancelled',
      );
      download.controller.abort(new Error(`${model}@${version} is wanted instead of ${download.version}`));
    }
  }

  // Brings `model` to the version last wanted, one fetch at a time; a version that arrives meanwhile is next.
  function converge(model: string): Promise<void> {
    const running = applying.get(model);
    if (running !== undefined) return running;
    const job = (async () => {
      for (;;) {
        const version = wanted.get(model);
        if (closed || nc === undefined || version === undefined || current.get(model)?.version === version) return;
        let bundle: LoadedBundle | undefined;
        const controller = new AbortController();
        const download = { version, controller, bytesDone: 0, bytesTotal: 0, startedAt: wallClock() };
        inFlight.set(model, download);
        try {
          const limit = deps.maxDownloadBytesPerSecond;
          let cached;
          try {
            cached = await cache.fetch(nc, model, version, deps.prefix, selectFor(model), {
              signal: controller.signal,
              ...(limit === undefined ? {} : { maxBytesPerSecond: limit }),
              onProgress: ({ bytesDone, bytesTotal }) => {
                download.bytesDone = bytesDone;
                download.bytesTotal = bytesTotal;
              },
            });
          } finally {
            if (inFlight.get(model) === download) inFlight.delete(model);
          }
          logger.info(
            {
              event: 'bundle_fetched',
              model,
              version,
              files: cached.files.length,
              bytesDownloaded: cached.bytesDownloaded,
              bytesWritten: cached.bytesWritten,
              filesDownloaded: cached.filesDownloaded,
              filesReused: cached.filesReused,
            },
            'bundle fetched',
          );
          bundle = install(cached);
          await deps.warm(bundle);
          if (closed) {
            await bundle.retire();
            return;
          }
          if (wanted.get(model) === version) swapIn(model, bundle, cached);
          else await bundle.retire();
        } catch (error) {
          if (isBundleStoreError(error) && error.code === 'cancelled') {
            await bundle?.retire();
            if (closed) return;
            continue; // the version wanted now is next
          }
          const message = `cannot load bundle ${model}@${version}: ${(error as Error).message}`;
          deps.onError(message);
          await bundle?.retire();
          if (isBundleRefusal(error)) {
            // Untrusted: fetching it again cannot help. The version served so far (if any) keeps serving; the next
            // version the KV names, or a refresh, is tried as usual.
            const serving = current.get(model)?.version ?? null;
            logger.error(
              { event: 'bundle_refused', model, version, code: error.code, serving, err: error.message },
              'bundle refused',
            );
            return;
          }
          logger.warn({ model, version, err: (error as Error).message }, 'bundle update failed; retrying');
          retryLater(() => void converge(model));
          return;
        }
      }
    })().finally(() => applying.delete(model));
    applying.set(model, job);
    return job;
  }

  function retryLater(fn: () => void): void {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, retryMs);
    timers.add(timer);
  }

  async function follow(model: string): Promise<void> {
    if (closed || nc === undefined) return;
    let watch: CurrentVersionWatch | undefined;
    try {
      watch = await watchCurrent(nc, { prefix: deps.prefix, model });
      watches.add(watch);
      for await (const update of watch) {
        if (update.version === undefined) continue;
        want(model, update.version);
        void converge(model);
      }
    } catch (error) {
      if (!closed) logger.warn({ model, err: (error as Error).message }, 'bundle watch failed; restarting');
    } finally {
      if (watch !== undefined) watches.delete(watch);
    }
    retryLater(() => void follow(model));
  }

  async function refresh(model: string): Promise<void> {
    if (nc === undefined || closed) return;
    const version = await currentVersion(nc, model, { prefix: deps.prefix }).catch(() => undefined);
    if (version !== undefined) {
      want(model, version);
      await converge(model);
    }
  }

  const close = async (): Promise<void> => {
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    for (const watch of watches) watch.stop();
    for (const download of inFlight.values()) download.controller.abort(new Error('the agent is closing'));
    await Promise.allSettled([...applying.values()]);
    await Promise.allSettled([...current.values()].map((b) => b.retire()));
  };

  return {
    loadFromCache,
    attach(connection) {
      nc = connection;
      for (const model of deps.models) void follow(model);
    },
    acquire(model) {
      if (!deps.models.includes(model)) {
        throw new EdgeAgentError(
          EdgeErrorCode.UnknownModel,
          `model "${model.slice(0, 128)}" is not served here; this agent serves ${deps.models.join(', ')}`,
        );
      }
      const lease = current.get(model)?.acquire();
      if (lease === undefined) {
        throw new EdgeAgentError(EdgeErrorCode.NotReady, `model ${model} has no bundle loaded yet; retry shortly`);
      }
      return lease;
    },
    current: (model) => current.get(model),
    downloads: () =>
      [...inFlight.entries()].map(([model, d]) => ({
        model,
        version: d.version,
        bytesDone: d.bytesDone,
        bytesTotal: d.bytesTotal,
        percent: d.bytesTotal === 0 ? 0 : Math.min(100, Math.round((d.bytesDone / d.bytesTotal) * 1000) / 10),
        startedAt: d.startedAt,
      })),
    refresh(model) {
      void refresh(model).catch(() => undefined);
    },
    whenServing(model, version) {
      if (current.get(model)?.version === version) return Promise.resolve();
      return new Promise((resolve) => waiters.set(model, [...(waiters.get(model) ?? []), { version, resolve }]));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
