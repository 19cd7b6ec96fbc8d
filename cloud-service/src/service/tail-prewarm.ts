// Loads a version's tails before they are asked for. When a version becomes current (the `${prefix}_current` KV,
// watched from the replica's start, so every version current at start counts too; or a bundle announcement,
// which usually comes first), the replica loads the tails of the candidates its plan offloads to the cloud, and of
// the splits agents use now on earlier versions (an agent pinned to a split, or re-costed away from the plan, asks for
// the same split after the swap; a plan that keeps everything on the edge warmed nothing, and the first offload after
// a promotion waited up to 171 ms instead of 31), and runs each once on zeros. The first offload after a promotion
// or a restart then finds a warm session instead of waiting for a download, a session build and onnxruntime's
// first-run allocations. Prewarming stays within the tail memory
// budget: the tails it warmed are pinned until the version is done, so a version never evicts its own tails, and a
// tail that does not fit is skipped. Nothing here is fatal: failures are logged and requests load on demand.
import type { NatsConnection } from '@nats-io/transport-node';
import { type BundleManifest, CandidateKind, WireErrorCode } from '@cleave/proto';
import { watchCurrent } from '@cleave/node-runtime';
import { ServeError } from './serve-error.js';
import type { TailLease, TailRegistry } from '../tail/tail-registry.js';

/** One prewarmed version, as logged. */
export interface PrewarmReport {
  readonly model: string;
  readonly version: string;
  /** Splits to warm: those the plan sends to the cloud, in plan order, then those agents use now. */
  readonly splits: readonly string[];
  /** Splits loaded and run once. */
  readonly warmed: readonly string[];
  /** Splits left to load on demand, and why. */
  readonly skipped: readonly { split: string; reason: string }[];
  readonly ms: number;
}

/** Dependencies of {@link createTailPrewarm}. */
export interface TailPrewarmDeps {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly registry: TailRegistry;
  readonly onReport: (report: PrewarmReport) => void;
  readonly onWarn: (fields: Record<string, unknown>, message: string) => void;
  /**
   * First delay before watching current versions again after the watch failed or ended, in ms; it doubles up to
   * five minutes, and a bundle announcement retries at once. @default 15000
   */
  readonly retryMs?: number;
}

/** The prewarmer of one replica. */
export interface TailPrewarm {
  /** Watches current versions; each one (those current now included) is prewarmed once. */
  start(): void;
  /** Prewarms `version` of `model` (announced as current), unless it is already done or queued. */
  request(model: string, version: string): void;
  /** Resolves when nothing is queued or being prewarmed. */
  idle(): Promise<void>;
  /** The last report per model. */
  readonly reports: readonly PrewarmReport[];
  close(): Promise<void>;
}

/**
 * The splits of `manifest` whose tails the cloud runs under its plan: each range's candidate unless the range keeps
 * the tail on the edge, without edge-only candidates; in plan order, each once.
 */
export function plannedCloudSplits(manifest: BundleManifest): string[] {
  const planned = manifest.plan.ranges.filter((r) => r.tailOn !== 'edge').map((r) => r.candidate);
  return cloudTailSplits(manifest, planned);
}

/** The splits of `wanted` that `manifest` has with a cloud tail, each once, in order. */
export function cloudTailSplits(manifest: BundleManifest, wanted: readonly string[]): string[] {
  const splits: string[] = [];
  for (const id of wanted) {
    if (splits.includes(id)) continue;
    const candidate = manifest.candidates.find((c) => c.id === id);
    if (candidate === undefined || candidate.kind === CandidateKind.EdgeOnly || candidate.tail === null) continue;
    splits.push(candidate.id);
  }
  return splits;
}

/** Creates the prewarmer; it does nothing until started or asked. */
export function createTailPrewarm(deps: TailPrewarmDeps): TailPrewarm {
  const { registry } = deps;
  /** The version to prewarm next, per model: a newer request replaces an older one still waiting. */
  const queued = new Map<string, string>();
  /** The version prewarmed (or being prewarmed) last, per model. */
  const done = new Map<string, string>();
  const reports = new Map<string, PrewarmReport>();
  let running: Promise<void> | undefined;
  let closed = false;
  let watch: { stop(): void } | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = deps.retryMs ?? 15_000;

  function request(model: string, version: string): void {
    // An announcement means the current-version bucket exists now: a watch that failed for want of it can start.
    if (retry !== undefined && !closed) {
      clearTimeout(retry);
      retry = undefined;
      void watchVersions();
    }
    if (closed || done.get(model) === version || queued.get(model) === version) return;
    queued.set(model, version);
    running ??= drainQueue().finally(() => (running = undefined));
  }

  async function drainQueue(): Promise<void> {
    while (!closed && queued.size > 0) {
      const [model, version] = queued.entries().next().value!;
      queued.delete(model);
      done.set(model, version);
      const report = await prewarm(model, version);
      reports.set(model, report);
      deps.onReport(report);
    }
  }

  async function prewarm(model: string, version: string): Promise<PrewarmReport> {
    const started = performance.now();
    const report = (splits: string[], warmed: string[], skipped: { split: string; reason: string }[]) => ({
      model,
      version,
      splits,
      warmed,
      skipped,
      ms: Math.round(performance.now() - started),
    });
    let splits: string[];
    try {
      const manifest = await registry.manifest(model, version);
      splits = cloudTailSplits(manifest, [...plannedCloudSplits(manifest), ...registry.servedSplits(model)]);
    } catch (error) {
      if (done.get(model) === version) done.delete(model); // asked again (announced, or at the next watch), retried
      return report([], [], [{ split: '*', reason: (error as Error).message }]);
    }
    const leases: TailLease[] = [];
    const warmed: string[] = [];
    const skipped: { split: string; reason: string }[] = [];
    try {
      for (const split of splits) {
        // A newer version of the model is waiting: it is the one requests will ask for.
        if (closed || queued.has(model)) {
          skipped.push({ split, reason: closed ? 'replica closing' : 'a newer version is current' });
          continue;
        }
        let lease: TailLease;
        try {
          lease = await registry.acquire({ model, version, split });
        } catch (error) {
          const full = error instanceof ServeError && error.code === WireErrorCode.Overloaded;
          skipped.push({ split, reason: full ? 'tail memory budget is full' : (error as Error).message });
          continue;
        }
        leases.push(lease);
        try {
          await lease.tail.warm();
          warmed.push(split);
        } catch (error) {
          skipped.push({ split, reason: `loaded, but the warm-up run failed: ${(error as Error).message}` });
        }
      }
    } finally {
      for (const lease of leases) lease.release();
    }
    return report(splits, warmed, skipped);
  }

  async function watchVersions(): Promise<void> {
    try {
      const updates = await watchCurrent(deps.nc, { prefix: deps.prefix });
      if (closed) {
        updates.stop();
        return;
      }
      watch = updates;
      retryMs = deps.retryMs ?? 15_000;
      for await (const update of updates) {
        if (update.version !== undefined) request(update.model, update.version);
        else done.delete(update.model);
      }
    } catch (error) {
      if (!closed)
        deps.onWarn({ err: (error as Error).message }, 'cannot watch current versions; prewarming on announcements');
    }
    watch = undefined;
    // The watch ends with the connection or when the bucket is gone; a later one picks up from the values then.
    if (!closed && !deps.nc.isClosed()) {
      retry = setTimeout(() => {
        retry = undefined;
        void watchVersions();
      }, retryMs);
      retry.unref();
      retryMs = Math.min(retryMs * 2, 300_000);
    }
  }

  return {
    start() {
      void watchVersions();
    },
    request,
    async idle() {
      while (running !== undefined) await running;
    },
    get reports() {
      return [...reports.values()];
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      retry = undefined;
      watch?.stop();
      await running;
    },
  };
}
