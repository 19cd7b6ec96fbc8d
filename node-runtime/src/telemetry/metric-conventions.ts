// Conventions both daemons' metrics share, so the edge and the cloud export comparable series: Prometheus base
// units (seconds, bytes) and one set of latency buckets.

/**
 * Bucket bounds of every request/queue/run duration histogram, in seconds. They start at 50 µs: an edge request
 * that exits early takes well under a millisecond, and a first bucket of 0.5 ms held most requests, so its p50
 * could not be resolved. Roughly 1-2.5-5 steps up to 10 s, past any deadline.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Milliseconds (what the clocks give) to seconds (what Prometheus wants). */
export function msToSeconds(ms: number): number {
  return ms / 1000;
}
