// Which tails are loaded. Tails load on demand from the bundle store and stay in an LRU bounded by the bytes of
// their ONNX files; a tail is only evicted when idle. A bundle that keeps its weights in one shared file counts
// each tail's graph plus that file once per content, for as long as any loaded tail reads it (the sessions map
// the same file, see tail-files.ts). Lookups that fail (unknown model, unpublished version) are remembered
// briefly, so a flood of bad requests does not become a flood of JetStream reads. Every manifest is verified
// (signature, trusted publisher, content version) before anything of its bundle is read, and every file is checked
// against it as it is read, so a bundle swapped in the store is refused, never served.
import { type BundleManifest, type SplitCandidate, type TailAddress, WireErrorCode } from '@cleave/proto';
import type { BundleReader, ManifestWithBytes } from '@cleave/node-runtime';
import { isBundleRefusal, isBundleStoreError } from '@cleave/node-runtime';
import { ServeError } from '../service/serve-error.js';
import { type BatchObserver, createLoadedTail, type LoadedTail } from './loaded-tail.js';
import type { TailExecutor } from './ort-executor.js';
import type { BatchPolicy } from './tail-batcher.js';
import { createTailFiles, type TailFiles, type TailSource, tailWeights, type WeightsContent } from './tail-files.js';
import { type TensorSlot, tailSignature } from './tensor-batch.js';

/** Limits of the registry. */
export interface TailRegistryLimits {
  /** Sum of the tail ONNX sizes kept loaded, each shared weights file counted once. */
  readonly maxTailBytes: number;
  /** How long a failed lookup or load is remembered, in ms. */
  readonly negativeCacheMs: number;
}

/** Dependencies of {@link createTailRegistry}. */
export interface TailRegistryDeps {
  readonly reader: BundleReader;
  readonly executor: TailExecutor;
  readonly policy: BatchPolicy;
  readonly limits: TailRegistryLimits;
  /**
   * Checks a manifest before anything of its bundle is read: `verifyManifest` with the replica's trust (a unit test
   * of the registry alone may skip it). A manifest it refuses (`isBundleRefusal`) is answered `version_mismatch`.
   */
  readonly verify: (manifest: ManifestWithBytes, where: string) => void;
  /** Called when a request meets a refused manifest, with its error code, for a warning in the log. */
  readonly onRefused?: (fields: Record<string, unknown>, message: string) => void;
  /**
   * Where tails of shared-weights bundles are written for onnxruntime to load; closed with the registry.
   * @default a store in a temporary directory
   */
  readonly files?: TailFiles;
  readonly now: () => number;
  readonly onBatch?: BatchObserver;
  readonly onEvent?: (event: string, fields: Record<string, unknown>) => void;
}

/** A tail pinned for one request: it will not be evicted until released. */
export interface TailLease {
  readonly tail: LoadedTail;
  release(): void;
}

/** The loaded tails of one replica. */
export interface TailRegistry {
  /** The tail for (model, version, split), loading it if needed. Throws ServeError with the wire code. */
  acquire(address: TailAddress): Promise<TailLease>;
  /** Forgets failed lookups of a model, e.g. when a new version of it is announced. */
  forgetFailures(model: string): void;
  /** The manifest of (model, version), read once and cached. Throws ServeError with the wire code. */
  manifest(model: string, version: string): Promise<BundleManifest>;
  /** Bytes held against the budget: loaded and loading tails, plus each weights content they read, once. */
  readonly loadedBytes: number;
  readonly loadedCount: number;
  /** The loaded tails (`model/version/split`), and the weights contents they hold. */
  loaded(): { tails: string[]; weights: WeightsContent[] };
  /** Splits of `model` with a tail loaded now, at any version, most recently used first: what agents ask for. */
  servedSplits(model: string): string[];
  /** Requests queued across tails. */
  readonly queueDepth: number;
  /** Tells every tail to dispatch without waiting for its queue delay. */
  flush(): void;
  /** Resolves when no tail has queued or running work. */
  idle(): Promise<void>;
  /** Unloads everything. */
  close(): Promise<void>;
}

interface Entry {
  readonly key: string;
  readonly address: TailAddress;
  /** The tail graph's bytes (its weights included when it embeds them). */
  readonly bytes: number;
  /** The shared weights file the tail reads, counted once across the entries reading it. */
  readonly weights: WeightsContent | undefined;
  tail: LoadedTail | undefined;
  source: TailSource | undefined;
  ready: Promise<LoadedTail>;
  leases: number;
  lastUsed: number;
}

const MAX_REMEMBERED_FAILURES = 4096;
const MAX_CACHED_MANIFESTS = 64;

/** Creates the registry of loaded tails. */
export function createTailRegistry(deps: TailRegistryDeps): TailRegistry {
  const { reader, executor, limits, now } = deps;
  const files =
    deps.files ?? createTailFiles({ reader, ...(deps.onEvent === undefined ? {} : { onEvent: deps.onEvent }) });
  const entries = new Map<string, Entry>();
  /** Weights contents held by entries: their size and how many entries read them. */
  const resident = new Map<string, { bytes: number; entries: number }>();
  const failures = new Map<string, { error: ServeError; until: number }>();
  const manifests = new Map<string, Promise<ManifestWithBytes>>();
  let reservedBytes = 0;

  // What loading a tail adds to the budget: its graph, and its weights unless a loaded tail already reads them.
  function costOf(bytes: number, weights: WeightsContent | undefined): number {
    return bytes + (weights === undefined || resident.has(weights.sha256) ? 0 : weights.bytes);
  }

  function hold(entry: Entry): void {
    reservedBytes += costOf(entry.bytes, entry.weights);
    if (entry.weights === undefined) return;
    const held = resident.get(entry.weights.sha256);
    if (held === undefined) resident.set(entry.weights.sha256, { bytes: entry.weights.bytes, entries: 1 });
    else held.entries += 1;
  }

  function drop(entry: Entry): void {
    reservedBytes -= entry.bytes;
    if (entry.weights === undefined) return;
    const held = resident.get(entry.weights.sha256)!;
    held.entries -= 1;
    if (held.entries > 0) return;
    resident.delete(entry.weights.sha256);
    reservedBytes -= held.bytes;
  }

  executor.onReset((error) => {
    deps.onEvent?.('executor reset', { err: error.message, tails: entries.size });
    for (const entry of [...entries.values()]) void unload(entry);
  });

  function remembered(key: string): ServeError | undefined {
    const failure = failures.get(key);
    if (failure === undefined) return undefined;
    if (now() < failure.until) return failure.error;
    failures.delete(key);
    return undefined;
  }

  function remember(key: string, error: ServeError): void {
    if (failures.size >= MAX_REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!);
    failures.set(key, { error, until: now() + limits.negativeCacheMs });
  }

  async function manifestFor(model: string, version: string): Promise<ManifestWithBytes> {
    const key = `${model}/${version}`;
    let pending = manifests.get(key);
    if (pending === undefined) {
      pending = reader.readManifest(model, version).then((read) => {
        deps.verify(read, `bundle ${model}@${version}`);
        return read;
      });
      if (manifests.size >= MAX_CACHED_MANIFESTS) manifests.delete(manifests.keys().next().value!);
      manifests.set(key, pending);
      pending.catch(() => manifests.delete(key));
    }
    try {
      return await pending;
    } catch (error) {
      throw await describeMissing(model, version, error);
    }
  }

  async function describeMissing(model: string, version: string, error: unknown): Promise<ServeError> {
    if (isBundleRefusal(error)) {
      deps.onRefused?.(
        { event: 'bundle_refused', model, version, code: error.code, err: error.message },
        'bundle refused',
      );
      // The agent that asked runs the tail itself and fetches the current bundle, which it verifies in turn.
      return new ServeError(WireErrorCode.VersionMismatch, `this replica refuses ${error.message}`, { cause: error });
    }
    if (!isBundleStoreError(error)) return new ServeError(WireErrorCode.Unavailable, `bundle store: ${String(error)}`);
    if (error.code === 'io') return new ServeError(WireErrorCode.Unavailable, error.message, { cause: error });
    if (error.code !== 'not_found') {
      return new ServeError(WireErrorCode.Internal, `bundle ${model}@${version} is unusable: ${error.message}`, {
        cause: error,
      });
    }
    const current = await reader.currentVersion(model).catch(() => undefined);
    if (current === undefined) {
      return new ServeError(WireErrorCode.UnknownModel, `model ${model} has never been published`);
    }
    return new ServeError(
      WireErrorCode.VersionMismatch,
      `model ${model} has no version ${version} in the store (current is ${current}); run the tail locally and fetch the current bundle`,
    );
  }

  function tailOf(manifest: ManifestWithBytes, address: TailAddress): { candidate: SplitCandidate; path: string } {
    const { candidates } = manifest.manifest;
    const candidate = candidates.find((c) => c.id === address.split);
    const withTail = candidates.filter((c) => c.tail !== null).map((c) => c.id);
    if (candidate === undefined) {
      throw new ServeError(
        WireErrorCode.BadRequest,
        `${address.model}@${address.version} has no split ${address.split}; splits with a tail: ${withTail.slice(0, 20).join(', ')}`,
      );
    }
    if (candidate.tail === null) {
      throw new ServeError(
        WireErrorCode.BadRequest,
        `split ${address.split} of ${address.model}@${address.version} is ${candidate.kind}: it has no tail`,
      );
    }
    return { candidate, path: candidate.tail };
  }

  // Picks idle tails, least recently used first, whose eviction makes a load costing `cost` fit the budget;
  // undefined when even evicting every idle tail is not enough. Evicting the last reader of a weights content frees
  // it too, unless the new tail reads it. Synchronous, so no other load can interleave with the choice.
  function chooseVictims(cost: number, weights: WeightsContent | undefined): Entry[] | undefined {
    const idle = [...entries.values()]
      .filter((e) => e.tail !== undefined && e.leases === 0 && e.tail.depth === 0 && !e.tail.busy)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    const victims: Entry[] = [];
    const readers = new Map([...resident].map(([sha, held]) => [sha, held.entries]));
    let free = limits.maxTailBytes - reservedBytes;
    for (const entry of idle) {
      if (free >= cost) break;
      victims.push(entry);
      free += entry.bytes;
      const sha = entry.weights?.sha256;
      if (sha === undefined) continue;
      const left = readers.get(sha)! - 1;
      readers.set(sha, left);
      if (left === 0 && sha !== weights?.sha256) free += entry.weights!.bytes;
    }
    return free >= cost ? victims : undefined;
  }

  async function unload(entry: Entry): Promise<void> {
    if (entries.get(entry.key) !== entry) return;
    entries.delete(entry.key);
    drop(entry);
    await entry.tail?.close();
    await entry.source?.release();
  }

  async function load(key: string, address: TailAddress): Promise<Entry> {
    const manifest = await manifestFor(address.model, address.version);
    const { candidate, path } = tailOf(manifest, address);
    const bytes = manifest.manifest.files[path]!.bytes;
    const weights = tailWeights(manifest.manifest, candidate);
    const needs = bytes + (weights?.bytes ?? 0);
    if (needs > limits.maxTailBytes) {
      const parts = weights === undefined ? '' : ` (graph ${bytes}, weights ${weights.bytes})`;
      throw new ServeError(
        WireErrorCode.Unavailable,
        `tail ${key} needs ${needs} bytes${parts}; the tail memory budget is ${limits.maxTailBytes}`,
      );
    }
    // From here to entries.set nothing awaits: two requests that read the manifest together load the tail once.
    const existing = entries.get(key);
    if (existing !== undefined) return existing;
    const victims = chooseVictims(costOf(bytes, weights), weights);
    if (victims === undefined) {
      throw new ServeError(
        WireErrorCode.Overloaded,
        `tail memory budget (${limits.maxTailBytes} bytes) is held by busy tails; retry`,
      );
    }
    const entry: Entry = {
      key,
      address,
      bytes,
      weights: weights === undefined ? undefined : { sha256: weights.sha256, bytes: weights.bytes },
      tail: undefined,
      source: undefined,
      ready: undefined as never,
      leases: 0,
      lastUsed: now(),
    };
    // Held before the victims go, so weights the new tail shares with a victim stay counted, and on disk: opening
    // the files takes its hold on them at once.
    hold(entry);
    entries.set(key, entry);
    const opening = files.open(manifest.manifest, candidate);
    void opening.catch(() => undefined); // awaited below, after the evictions
    const evicted = victims.map((victim) => {
      deps.onEvent?.('tail evicted', { tail: victim.key, bytes: victim.bytes });
      return unload(victim);
    });
    entry.ready = (async () => {
      let source: TailSource | undefined;
      try {
        await Promise.all(evicted);
        source = await opening;
        const { sessionOptions } = manifest.manifest.model;
        const session = await executor.load(source.model, sessionOptions);
        const tail = createLoadedTail({
          address,
          signature: tailSignature(session.inputs, session.outputs),
          fetches: replyOutputs(manifest.manifest, session.outputs),
          bytes,
          session: session.session,
          executor,
          policy: deps.policy,
          now,
          ...(deps.onBatch === undefined ? {} : { onBatch: deps.onBatch }),
        });
        if (entries.get(key) !== entry) {
          await tail.close(); // evicted or reset while loading
          throw new ServeError(WireErrorCode.Unavailable, `tail ${key} was unloaded while loading; retry`);
        }
        entry.tail = tail;
        entry.source = source;
        deps.onEvent?.('tail loaded', {
          tail: key,
          bytes,
          batchable: tail.signature.batchable,
          ...(weights === undefined ? {} : { weights: weights.sha256.slice(0, 12), weightsBytes: weights.bytes }),
        });
        return tail;
      } catch (error) {
        if (entries.get(key) === entry) {
          entries.delete(key);
          drop(entry);
        }
        const opened = source ?? (await opening.catch(() => undefined));
        if (opened !== undefined && entry.source !== opened) await opened.release();
        throw error instanceof ServeError
          ? error
          : new ServeError(WireErrorCode.Unavailable, `tail ${key} cannot be loaded: ${(error as Error).message}`, {
              cause: error,
            });
      }
    })();
    return entry;
  }

  async function acquire(address: TailAddress): Promise<TailLease> {
    const key = `${address.model}/${address.version}/${address.split}`;
    let entry = entries.get(key);
    if (entry === undefined) {
      const known = remembered(key) ?? remembered(`${address.model}/${address.version}`);
      if (known !== undefined) throw known;
      try {
        entry = await load(key, address);
      } catch (error) {
        const failure = error instanceof ServeError ? error : new ServeError(WireErrorCode.Internal, String(error));
        if (failure.code !== WireErrorCode.Overloaded) remember(key, failure);
        throw failure;
      }
    }
    entry.leases += 1;
    entry.lastUsed = now();
    let tail: LoadedTail;
    try {
      tail = await entry.ready;
    } catch (error) {
      entry.leases -= 1;
      if (error instanceof ServeError && error.code !== WireErrorCode.Overloaded) remember(key, error);
      throw error;
    }
    let released = false;
    const pinned = entry;
    return {
      tail,
      release() {
        if (released) return;
        released = true;
        pinned.leases -= 1;
        pinned.lastUsed = now();
      },
    };
  }

  const loadedTails = (): LoadedTail[] => [...entries.values()].flatMap((e) => (e.tail === undefined ? [] : [e.tail]));

  return {
    acquire,
    forgetFailures(model) {
      for (const key of [...failures.keys()]) if (key.startsWith(`${model}/`)) failures.delete(key);
      for (const key of [...manifests.keys()]) if (key.startsWith(`${model}/`)) manifests.delete(key);
    },
    async manifest(model, version) {
      return (await manifestFor(model, version)).manifest;
    },
    loaded() {
      return {
        tails: [...entries.values()].filter((e) => e.tail !== undefined).map((e) => e.key),
        weights: [...resident].map(([sha256, held]) => ({ sha256, bytes: held.bytes })),
      };
    },
    servedSplits(model) {
      const served = [...entries.values()].filter((e) => e.tail !== undefined && e.address.model === model);
      return [...new Set(served.sort((a, b) => b.lastUsed - a.lastUsed).map((e) => e.address.split))];
    },
    get loadedBytes() {
      return reservedBytes;
    },
    get loadedCount() {
      return entries.size;
    },
    get queueDepth() {
      return loadedTails().reduce((sum, t) => sum + t.depth, 0);
    },
    flush() {
      for (const tail of loadedTails()) tail.flush();
    },
    async idle() {
      await Promise.all(loadedTails().map((t) => t.idle()));
    },
    async close() {
      await Promise.all([...entries.values()].map((e) => unload(e)));
      await files.close();
    },
  };
}

/**
 * The outputs a tail sends back: every output of its session except the model's early exits (a cloud-only tail is
 * the whole model, exits included, and exits never leave the edge). In the session's order.
 */
function replyOutputs(manifest: BundleManifest, outputs: readonly TensorSlot[]): string[] {
  const exits = new Set((manifest.exits ?? []).map((e) => e.output));
  const names = outputs.map((o) => o.name);
  const finals = names.filter((name) => !exits.has(name));
  return finals.length > 0 ? finals : names;
}
