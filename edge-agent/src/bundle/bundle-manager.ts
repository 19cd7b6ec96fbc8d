// Which bundle version each model serves, and the hot swap between versions.
//
// A swap is atomic from a request's point of view: the new version is fetched, verified, loaded and warmed while
// the old one keeps serving; then one assignment makes new requests lease the new version. Requests already
// running hold leases on the old one, which releases its sessions when the last of them finishes.
import type { NatsConnection } from '@nats-io/transport-node';
import { currentVersion, type CurrentVersionWatch, watchCurrent } from '@cleave/node-runtime';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import type { BundleCache, CachedBundle } from './bundle-cache.js';
import { type BundleLease, type LoadedBundle, loadBundle } from './loaded-bundle.js';

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
  let nc: NatsConnection | undefined;
  let closed = false;

  function install(cached: CachedBundle): LoadedBundle {
    return loadBundle({
      dir: cached.dir,
      manifest: cached.manifest,
      intraOpThreads: deps.intraOpThreads,
      now: deps.now,
    });
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
    await Promise.all(
      deps.models.map(async (model) => {
        const cached = await cache.readCurrent(model);
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

  // Brings `model` to the version last wanted, one fetch at a time; a version that arrives meanwhile is next.
  function converge(model: string): Promise<void> {
    const running = applying.get(model);
    if (running !== undefined) return running;
    const job = (async () => {
      for (;;) {
        const version = wanted.get(model);
        if (closed || nc === undefined || version === undefined || current.get(model)?.version === version) return;
        let bundle: LoadedBundle | undefined;
        try {
          const cached = await cache.fetch(nc, model, version, deps.prefix);
          bundle = install(cached);
          await deps.warm(bundle);
          if (closed) {
            await bundle.retire();
            return;
          }
          if (wanted.get(model) === version) swapIn(model, bundle, cached);
          else await bundle.retire();
        } catch (error) {
          const message = `cannot load bundle ${model}@${version}: ${(error as Error).message}`;
          logger.warn({ model, version, err: (error as Error).message }, 'bundle update failed; retrying');
          deps.onError(message);
          await bundle?.retire();
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
        wanted.set(model, update.version);
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
      wanted.set(model, version);
      await converge(model);
    }
  }

  const close = async (): Promise<void> => {
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    for (const watch of watches) watch.stop();
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
