// Active link probes, for when offloads are too rare to keep the bandwidth estimate fresh (an edge-only plan,
// a high exit rate, an idle agent).
//
// A probe is a request to a subject nobody subscribes to. The NATS server answers "no responders" only after it
// has received the whole message, so the round trip of an empty probe is the link's base RTT, and that of a
// sized probe adds the time to push its bytes up the link: bandwidth without any cooperation from the cloud.
// Probes are sized to take about `targetMs` at the last measured bandwidth, so they stay cheap on slow links.
import { Empty, type NatsConnection, RequestError, TimeoutError } from '@nats-io/transport-node';
import type { BandwidthEstimator } from './bandwidth-estimator.js';
import { createConfirmationBudget, type SurpriseDirection } from './confirmation-budget.js';
import type { ThrottleClock } from './cpu-throttle.js';

/** Settings of {@link createLinkProber}. */
export interface LinkProberOptions {
  /** Subject with no subscribers, e.g. `${prefix}.probe.${agentId}`. */
  readonly subject: string;
  readonly estimator: BandwidthEstimator;
  readonly now: () => number;
  /** Time the kernel held the agent back; a round trip counts without it. */
  readonly throttle?: ThrottleClock;
  /** The live connection, or undefined while there is none. */
  readonly nats: () => NatsConnection | undefined;
  /** Probe when no transfer was measured for this long. */
  readonly staleMs: number;
  readonly targetMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly timeoutMs: number;
  /** Bandwidth assumed for sizing before anything was measured. */
  readonly initialMbps: number;
  /**
   * At most `probes` confirmations ({@link LinkProber.probeSoon}) in any `perMs`. After a real step of the link,
   * a few confirmations turn the median at once; on a noisy link (small transfers on a fast link, a device under
   * a CPU quota) nearly every sample is "surprising", and unbudgeted confirmations chained into a probe storm: 117
   * probes of 64 KiB in 200 requests on a 0.0759-core device, which took 40% of its CPU and slowed every request
   * 1.7×. A surprise that agrees in direction with the last refused one may draw on a second budget of the same
   * size (see confirmation-budget.ts). @default one window's majority per sample lifetime: 3 in 3 s
   */
  readonly confirmations?: { readonly probes: number; readonly perMs: number };
  /**
   * Probing only where a request needs it ({@link LinkProber.active}). A request that offloads measures the link
   * itself; probes at the `staleMs` pace are for requests that wait on a measurement their own transfers do not
   * give (an edge-only plan, exits): they run once a request has gone `staleMs` without one. Otherwise (no request,
   * or every request measured) the link is probed after `afterMs` of quiet, then at doubling intervals up to
   * `maxStaleMs`; the last estimate stands meanwhile (the estimator keeps its last median). Probing every
   * `staleMs` regardless cost an idle agent 19–24 CPU ms per second (a quarter of a 0.0759-core device) and about
   * 1 Mbit/s of probes on a fast link, and sent a 64 KiB probe into nearly every gap between a bench's bursts of
   * offloads. @default probe every `staleMs` of quiet, whatever the requests do
   */
  readonly idle?: { readonly afterMs: number; readonly maxStaleMs: number };
  /** Called after each sized probe with its bandwidth sample and the median before it. */
  readonly onSample: (mbps: number, medianBefore: number | undefined) => void;
}

/** Runs probes in the background. */
export interface LinkProber extends AsyncDisposable {
  start(): void;
  /**
   * Probes as soon as possible (e.g. to confirm a sample that surprised in `direction`), but not more than every
   * staleMs / 5, nor beyond the confirmation budget.
   */
  probeSoon(direction?: SurpriseDirection): void;
  /**
   * A request arrived. It restarts the back-off; if nothing was measured for `idle.afterMs`, it probes at once (the
   * base RTT the request's own sample needs may have aged out).
   */
  active(): void;
  close(): Promise<void>;
  /** Probes sent so far. */
  readonly probes: number;
}

/** Creates a stopped prober. */
export function createLinkProber(options: LinkProberOptions): LinkProber {
  const { estimator, now } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let probes = 0;
  let lastProbeAt = Number.NEGATIVE_INFINITY;
  // A confirmation asked for while a probe runs (often by that very probe's sample) runs right after it.
  let again = false;
  const budget = createConfirmationBudget(options.confirmations ?? { probes: 3, perMs: 3000 });
  // The first request since the last measurement, while none followed it; and the quiet before the next probe
  // while no request waits (it doubles with each such probe).
  let waitingSince: number | undefined;
  let backoffMs = options.idle?.afterMs ?? options.staleMs;
  const lastMeasuredAt = (at: number) =>
    Math.max(estimator.estimate(at).lastSampleAt ?? Number.NEGATIVE_INFINITY, lastProbeAt);

  /**
   * The round trip's milliseconds and the time the agent was throttled in it, 'timeout', or undefined when it
   * measured nothing (closed, other errors).
   */
  async function roundTrip(
    nc: NatsConnection,
    payload: Uint8Array,
  ): Promise<{ ms: number; heldMs: number } | 'timeout' | undefined> {
    const mark = options.throttle?.mark();
    const started = now();
    const took = () => ({ ms: now() - started, heldMs: mark === undefined ? 0 : options.throttle!.since(mark) });
    try {
      await nc.request(options.subject, payload, { timeout: options.timeoutMs });
    } catch (error) {
      // "No responders" is the expected answer.
      if (error instanceof RequestError && error.isNoResponders()) return took();
      return error instanceof TimeoutError ? 'timeout' : undefined;
    }
    return took();
  }

  async function probe(): Promise<void> {
    const nc = options.nats();
    if (nc === undefined || nc.isClosed() || closed) return;
    probes += 1;
    lastProbeAt = now();
    const empty = await roundTrip(nc, Empty);
    if (typeof empty !== 'object' || closed) return;
    const rtt = Math.max(0, empty.ms - empty.heldMs);
    estimator.addRtt(rtt, now());
    const mbps = estimator.estimate(now()).latestMbps ?? options.initialMbps;
    // Never larger than the server accepts (a probe over max_payload would be refused, not measured).
    const ceiling = Math.min(options.maxBytes, nc.info?.max_payload ?? Number.POSITIVE_INFINITY);
    const bytes = Math.round(Math.min(ceiling, Math.max(options.minBytes, (mbps * 1e6 * options.targetMs) / 8000)));
    const elapsed = await roundTrip(nc, new Uint8Array(bytes));
    if (elapsed === undefined || closed) return;
    const before = estimator.estimate(now()).mbps;
    // A probe that did not get through in timeoutMs still says something: the link is slower than bytes/timeout.
    // Recording that upper bound pulls the estimate (and the next probe's size) down; without it, a probe sized
    // for the old, faster link would time out again and again after a drop, and the estimate would never move.
    // The estimator takes the throttled time off itself, so it can tell when that correction dominates.
    const sample = estimator.addTransfer({
      bytes,
      elapsedMs: elapsed === 'timeout' ? options.timeoutMs : elapsed.ms,
      serverMs: 0,
      pairedRttMs: rtt,
      ...(elapsed === 'timeout' ? {} : { throttledMs: elapsed.heldMs }),
      at: now(),
    });
    if (sample !== undefined) options.onSample(sample, before);
  }

  function runProbe(): void {
    if (running !== undefined || closed) return;
    running = probe()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          runProbe();
        }
      });
  }

  function tick(): void {
    if (running !== undefined) return;
    const at = now();
    const quietFor = at - lastMeasuredAt(at);
    if (options.idle === undefined) {
      if (quietFor >= options.staleMs) runProbe();
      return;
    }
    if (waitingSince !== undefined && waitingSince <= at - quietFor) waitingSince = undefined; // measured since
    if (waitingSince !== undefined && at - waitingSince >= options.staleMs && quietFor >= options.staleMs) {
      runProbe();
    } else if (quietFor >= backoffMs) {
      runProbe();
      backoffMs = Math.min(options.idle.maxStaleMs, backoffMs * 2);
    }
  }

  const close = async (): Promise<void> => {
    closed = true;
    clearInterval(timer);
    await running;
  };
  return {
    start() {
      if (timer !== undefined) return;
      timer = setInterval(tick, Math.max(20, Math.round(options.staleMs / 4)));
      timer.unref();
      tick();
    },
    probeSoon(direction) {
      if (running !== undefined) {
        if (!again && budget.allow(now(), direction)) again = true;
      } else if (now() - lastProbeAt >= options.staleMs / 5 && budget.allow(now(), direction)) runProbe();
    },
    active() {
      if (options.idle === undefined) return;
      const at = now();
      waitingSince ??= at;
      backoffMs = options.idle.afterMs;
      if (running === undefined && at - lastMeasuredAt(at) >= options.idle.afterMs) runProbe();
    },
    close,
    get probes() {
      return probes;
    },
    [Symbol.asyncDispose]: close,
  };
}
