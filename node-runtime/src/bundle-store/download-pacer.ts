// Paces a download so its average rate stays under a limit that may change while it runs (a share of the live
// uplink estimate): a token bucket refilled at the current limit, holding at most one second of bytes, so a
// burst after an idle spell is short. Every chunk is taken whole; when the bucket runs dry the reader sleeps.
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';

/** A byte-rate limit: fixed, or read again before each chunk. Non-positive or non-finite means no limit. */
export type RateLimit = number | (() => number);

/** Clock and sleep of a {@link DownloadPacer}, replaceable in tests. */
export interface PacerClock {
  /** Milliseconds, monotonic. */
  readonly now: () => number;
  /** Resolves after `ms`, or rejects when `signal` aborts. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Spends bytes against a {@link RateLimit}. */
export interface DownloadPacer {
  /** Waits until `bytes` (a chunk just read) fit under the limit. Rejects `cancelled` when `signal` aborts. */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelledError(signal));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(cancelledError(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** The `cancelled` error a fetch rejects with when its signal aborts. */
export function cancelledError(signal: AbortSignal, what = 'download'): BundleStoreError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new BundleStoreError(BundleStoreErrorCode.Cancelled, `${what} cancelled: ${reason}`, {
    cause: signal.reason,
  });
}

/** The limit now, in bytes/s; undefined for no limit. */
function limitNow(limit: RateLimit | undefined): number | undefined {
  const value = typeof limit === 'function' ? limit() : limit;
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Creates a pacer; with no limit, `take` returns at once. The bucket starts empty (no initial burst). */
export function createDownloadPacer(limit: RateLimit | undefined, clock: PacerClock = realClock): DownloadPacer {
  let tokens = 0;
  let last = clock.now();
  return {
    async take(bytes, signal) {
      if (signal?.aborted) throw cancelledError(signal);
      const rate = limitNow(limit);
      const t = clock.now();
      if (rate === undefined) {
        last = t;
        tokens = 0;
        return;
      }
      tokens = Math.min(rate, tokens + ((t - last) / 1000) * rate);
      last = t;
      tokens -= bytes;
      if (tokens < 0) {
        const waitMs = (-tokens / rate) * 1000;
        await clock.sleep(waitMs, signal);
        // The sleep paid the debt: the time it took is not refilled again.
        last = clock.now();
        tokens = 0;
      }
    },
  };
}
