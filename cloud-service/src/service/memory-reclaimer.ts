// Gives memory back soon after big requests leave. Their bytes (the 8 MiB message, its decoded chunks) live in
// ArrayBuffers outside V8's heap, which V8 frees only at a major GC, and it starts one only once some 64 MiB of such
// memory has piled up since the last. With a few near-max requests that garbage alone passed the replica's in-flight
// bound by half, and stayed in RSS after the burst. So once `thresholdBytes` of big requests have left, a full GC runs
// (at once, or when `minIntervalMs` has passed since the last one).
//
// Which GC depends on what is pending. A small request's buffers die young, and a scavenge frees a young
// ArrayBuffer's memory for about a third of a full GC's pause. A full GC at every 32 MiB of 49 KiB requests took
// 10% of the replica's event loop and a third of a core on V8's helper threads, and cost the batching bench a quarter
// of its throughput (345 → 466 samples/s). A big request stays long enough to be promoted to the old generation,
// where only a full GC reaches it: once one is pending (a release of at least `majorMinBytes`), the next GC is full.
//
// `gc` is not exposed by default and the replica's command line is not ours to change: the flag is set at run time,
// which V8 honours for contexts created afterwards, so the function is taken from a fresh vm context (checked on
// Node 20 and 22). If that ever stops working, this does nothing, and the amplification test's RSS check says so.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Settings of {@link createMemoryReclaimer}. */
export interface MemoryReclaimerSettings {
  /** Bytes of finished or refused requests after which a GC runs. */
  readonly thresholdBytes: number;
  /** Least time between two GCs, in ms: each one stops the event loop for a few ms. */
  readonly minIntervalMs: number;
  /**
   * Least pending bytes for which going idle collects. Below it, V8's own heuristics are enough: a replica serving
   * small requests goes idle between most of them, and a full GC each time would cost more than the bytes it frees.
   */
  readonly idleMinBytes: number;
  /** One release at least this big makes the next collection a full GC; smaller garbage gets a scavenge. */
  readonly majorMinBytes: number;
}

/** Counts bytes that became garbage and collects them when they add up. */
export interface MemoryReclaimer {
  /**
   * `bytes` that became garbage. `idle` says nothing is in flight any more: what is pending is then collected too,
   * if it reaches `idleMinBytes`, so that memory comes back after a burst that ended below the threshold.
   */
  released(bytes: number, idle?: boolean): void;
  /** GCs run so far. */
  readonly collections: number;
  /** Of those, full GCs; the others were scavenges. */
  readonly majorCollections: number;
}

/** Creates a reclaimer; a no-op when V8 will not hand out `gc`. */
export function createMemoryReclaimer(settings: MemoryReclaimerSettings): MemoryReclaimer {
  const gc = exposedGc();
  let pending = 0;
  let lastAt = Number.NEGATIVE_INFINITY;
  let scheduled: NodeJS.Timeout | undefined;
  let collections = 0;
  let majorCollections = 0;
  let majorPending = false;

  function collect(): void {
    scheduled = undefined;
    pending = 0;
    lastAt = performance.now();
    collections += 1;
    if (majorPending) majorCollections += 1;
    gc?.(majorPending ? { type: 'major' } : { type: 'minor' });
    majorPending = false;
  }

  return {
    released(bytes, idle = false) {
      if (gc === undefined) return;
      pending += bytes;
      if (bytes >= settings.majorMinBytes) majorPending = true;
      if (scheduled !== undefined || pending === 0) return;
      if (pending < (idle ? settings.idleMinBytes : settings.thresholdBytes)) return;
      const wait = lastAt + settings.minIntervalMs - performance.now();
      // At once when allowed: while a burst arrives, the event loop is busy reading it and a timer would only fire
      // after the garbage has piled up.
      if (wait <= 0) {
        collect();
        return;
      }
      scheduled = setTimeout(collect, wait);
      scheduled.unref();
    },
    get collections() {
      return collections;
    },
    get majorCollections() {
      return majorCollections;
    },
  };
}

/** V8's `gc`: a full GC when called bare or with type 'major', a scavenge with type 'minor'. */
type ExposedGc = (options?: { type: 'major' | 'minor' }) => void;

function exposedGc(): ExposedGc | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as ExposedGc;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as ExposedGc) : undefined;
  } catch {
    return undefined;
  }
}
