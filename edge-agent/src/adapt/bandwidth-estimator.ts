// Uplink bandwidth and round-trip time, learned from real transfers (offloads) and the agent's own probes.
//
// Bandwidth is the median of the last few transfer samples, not an EWMA. A median ignores isolated outliers
// (a GC pause, a batch that queued in the cloud) and, after a real step in the link, flips from the old to the
// new level in one move once half the window has seen it. An EWMA glides through every value in between, and
// the controller would walk through every plan range on the way: several switches for one change of the link.
// The shared nearest-rank median keeps that true for an even count too: it is always a measured value.
import { median } from '@cleave/proto';

/** Settings of {@link createBandwidthEstimator}. */
export interface BandwidthEstimatorOptions {
  /** Transfer samples in the median window. @default 5 */
  readonly window?: number;
  /** Samples older than this leave the window. @default 3000 */
  readonly maxAgeMs?: number;
  /** Transfer times below this are noise on a fast link; they are counted as this long. @default 0.25 */
  readonly minTransferMs?: number;
  /** The estimate never exceeds this. @default 10000 */
  readonly maxMbps?: number;
  /**
   * How long the base-RTT minimum filter remembers a sample. When every sample has aged out, the last minimum
   * stands (as the median does): offloads keep measuring transfers while the prober backs off, and without it each
   * of their samples counted the whole round trip as transfer time (a 100 Mbps link with 20 ms RTT read as 3-4
   * Mbps). @default 10000
   */
  readonly rttWindowMs?: number;
  /**
   * A probe pair's empty round trip is subtracted only while it is at most this far above the base RTT. Local
   * delays on a CPU-starved device are tens of milliseconds (a scheduling period or two); an empty message that
   * took longer than this waited behind bytes still on the link (a slower link draining an earlier probe), and
   * subtracting that wait would hide the very slowdown the probe should see. @default 100
   */
  readonly maxPairedExcessMs?: number;
}

/** One measured exchange that carried a payload. */
export interface TransferSample {
  /** Bytes that crossed the link, both ways. */
  readonly bytes: number;
  /** Wall time from sending the request to receiving the whole reply. */
  readonly elapsedMs: number;
  /** Time the far side reports it spent (queue + processing); 0 for probes. */
  readonly serverMs: number;
  /**
   * Round trip of an empty message sent right before this one, when there was one (a probe pair). It is
   * subtracted instead of the base RTT: it carries the same local delays as this exchange (a CPU-starved device
   * answers its sockets late, by up to a scheduling period), so the difference is the time the bytes took. Against
   * the base RTT those delays would all count as transfer time, and a slow device would think its link slow.
   */
  readonly pairedRttMs?: number;
  /**
   * Of `elapsedMs`, the time the kernel held this process back under a CPU quota: a reply read, or a request
   * written, a CFS period late is not time on the link (see cpu-throttle.ts). It never takes more than the
   * exchange's time beyond the server's.
   */
  readonly throttledMs?: number;
  /** When the reply arrived (the estimator's clock). */
  readonly at: number;
}

/** The current estimate. */
export interface LinkEstimate {
  /** Median of the window, or undefined before the first sample. */
  readonly mbps: number | undefined;
  /** The newest sample, even when it is an outlier. */
  readonly latestMbps: number | undefined;
  /** Smallest recent round trip of a near-empty message (the last one known once all aged out). */
  readonly baseRttMs: number | undefined;
  /** Smoothed round trip of near-empty messages, for heartbeats. */
  readonly rttMs: number | undefined;
  /** Samples currently in the window. */
  readonly samples: number;
  /** Time of the newest transfer sample. */
  readonly lastSampleAt: number | undefined;
  /**
   * False when the throttled time taken off the newest sample was at least the transfer time it left: its value
   * then says more about the correction than about the link.
   */
  readonly latestResolved: boolean;
}

/** A bandwidth and RTT estimator fed by {@link BandwidthEstimator.addTransfer} and {@link BandwidthEstimator.addRtt}. */
export interface BandwidthEstimator {
  /** Adds a round trip of a near-empty message (a probe), which feeds the base RTT. */
  addRtt(ms: number, at: number): void;
  /**
   * Adds a transfer: bandwidth = bytes / (elapsed − server time − base RTT). Returns the sample in Mbps, or
   * undefined when the exchange says nothing about bandwidth (non-positive sizes or times).
   */
  addTransfer(sample: TransferSample): number | undefined;
  estimate(now: number): LinkEstimate;
}

/** Creates an empty estimator. */
export function createBandwidthEstimator(options: BandwidthEstimatorOptions = {}): BandwidthEstimator {
  const window = options.window ?? 5;
  const maxAgeMs = options.maxAgeMs ?? 3000;
  const minTransferMs = options.minTransferMs ?? 0.25;
  const maxMbps = options.maxMbps ?? 10_000;
  const rttWindowMs = options.rttWindowMs ?? 10_000;
  const maxPairedExcessMs = options.maxPairedExcessMs ?? 100;
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`"window" must be a positive integer`);

  let samples: { mbps: number; at: number }[] = [];
  let rtts: { ms: number; at: number }[] = [];
  let smoothedRtt: number | undefined;
  let latest: number | undefined;
  let lastAt: number | undefined;
  let lastMedian: number | undefined;
  let lastBase: number | undefined;
  let latestResolved = false;

  function baseRtt(now: number): number | undefined {
    rtts = rtts.filter((r) => now - r.at <= rttWindowMs);
    if (rtts.length > 0) lastBase = Math.min(...rtts.map((r) => r.ms));
    return lastBase;
  }

  return {
    addRtt(ms, at) {
      if (!(ms >= 0) || !Number.isFinite(ms)) return;
      rtts.push({ ms, at });
      // Keep the filter small: the oldest entries can never be the minimum of a younger window for long.
      if (rtts.length > 64) rtts.shift();
      smoothedRtt = smoothedRtt === undefined ? ms : 0.8 * smoothedRtt + 0.2 * ms;
      baseRtt(at);
    },
    addTransfer({ bytes, elapsedMs, serverMs, at, pairedRttMs, throttledMs }) {
      if (!(bytes > 0) || !(elapsedMs > 0) || !Number.isFinite(elapsedMs)) return undefined;
      const base = baseRtt(at) ?? 0;
      const paired =
        pairedRttMs !== undefined && Number.isFinite(pairedRttMs) && pairedRttMs - base <= maxPairedExcessMs;
      const rtt = paired ? Math.max(base, pairedRttMs) : base;
      const onLink = elapsedMs - Math.max(0, serverMs);
      const held = throttledMs !== undefined && throttledMs > 0 ? Math.min(throttledMs, Math.max(0, onLink)) : 0;
      // Under a CPU quota the throttled time can cover most of an exchange even when the reply was not late (the
      // quota went to other threads while the request was on the link), so a correction as large as what remains
      // leaves the sample anywhere between "as measured" and "infinitely fast".
      latestResolved = !(held > 0 && held >= onLink - held - rtt);
      const transferMs = Math.max(minTransferMs, onLink - held - rtt);
      const mbps = Math.min(maxMbps, (bytes * 8) / (transferMs * 1000));
      samples.push({ mbps, at });
      if (samples.length > window) samples.shift();
      latest = mbps;
      lastAt = at;
      lastMedian = median(samples.map((s) => s.mbps));
      return mbps;
    },
    estimate(now) {
      samples = samples.filter((s) => now - s.at <= maxAgeMs);
      // With every sample aged out, the last median stands: no news is not evidence the link changed.
      if (samples.length > 0) lastMedian = median(samples.map((s) => s.mbps));
      return {
        mbps: lastMedian,
        latestMbps: latest,
        baseRttMs: baseRtt(now),
        rttMs: smoothedRtt,
        samples: samples.length,
        lastSampleAt: lastAt,
        latestResolved,
      };
    },
  };
}
