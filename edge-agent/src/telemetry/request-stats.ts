// Per-model request statistics: totals since start (for status) and a window that each heartbeat reads and
// resets (so the console sees rates and percentiles of the last interval, not of the agent's whole life).
import { quantile } from '@cleave/proto';

/** Where the part after the head ran: on the edge (edge-only or an early exit), in the cloud, or locally as a fallback. */
export type RanOn = 'edge' | 'cloud' | 'fallback';

/** Counts of one period. */
export interface StatsSnapshot {
  readonly requests: number;
  readonly exits: number;
  readonly offloads: number;
  readonly cloud: number;
  readonly fallbacks: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly exitRate: number;
}

/** The statistics of one model. */
export interface RequestStats {
  /** One answered request. `offloaded` is true when the cloud was asked (whatever it answered). */
  record(result: { ranOn: RanOn; exit: string | null; offloaded: boolean; totalMs: number }): void;
  /** One request answered with an error. */
  recordError(): void;
  /** Totals since start. */
  totals(): StatsSnapshot;
  /** The current window, then a fresh one. */
  takeWindow(): StatsSnapshot;
}

// Latencies kept per window: enough for stable percentiles, bounded memory at any request rate.
const MAX_WINDOW_SAMPLES = 4096;

/** Creates empty statistics. */
export function createRequestStats(): RequestStats {
  const blank = () => ({
    requests: 0,
    exits: 0,
    offloads: 0,
    cloud: 0,
    fallbacks: 0,
    errors: 0,
    latencies: [] as number[],
  });
  const total = blank();
  let window = blank();
  let seen = 0;

  function snapshot(s: ReturnType<typeof blank>): StatsSnapshot {
    // The shared nearest-rank quantile; 0 for an empty window, since a heartbeat's p50/p95 must be numbers ≥ 0.
    const at = (q: number) => (s.latencies.length === 0 ? 0 : quantile(s.latencies, q));
    return {
      requests: s.requests,
      exits: s.exits,
      offloads: s.offloads,
      cloud: s.cloud,
      fallbacks: s.fallbacks,
      errors: s.errors,
      p50Ms: at(0.5),
      p95Ms: at(0.95),
      exitRate: s.requests === 0 ? 0 : s.exits / s.requests,
    };
  }

  return {
    record({ ranOn, exit, offloaded, totalMs }) {
      seen += 1;
      for (const s of [total, window]) {
        s.requests += 1;
        if (exit !== null) s.exits += 1;
        if (offloaded) s.offloads += 1;
        if (ranOn === 'cloud') s.cloud += 1;
        if (ranOn === 'fallback') s.fallbacks += 1;
      }
      // Reservoir sampling keeps an unbiased sample of the window's latencies once it is full.
      if (window.latencies.length < MAX_WINDOW_SAMPLES) window.latencies.push(totalMs);
      else {
        const j = Math.floor(Math.random() * window.requests);
        if (j < MAX_WINDOW_SAMPLES) window.latencies[j] = totalMs;
      }
      if (total.latencies.length < MAX_WINDOW_SAMPLES) total.latencies.push(totalMs);
      else total.latencies[seen % MAX_WINDOW_SAMPLES] = totalMs;
    },
    recordError() {
      total.errors += 1;
      window.errors += 1;
    },
    totals: () => snapshot(total),
    takeWindow() {
      const s = snapshot(window);
      window = blank();
      return s;
    },
  };
}
