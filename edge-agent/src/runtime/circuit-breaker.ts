// Keeps a dead or drowning cloud from costing every request a timeout. Closed: offload. Open: run locally at
// once, while a background probe checks the cloud. Half-open: the probe succeeded, so requests offload again;
// the first success closes the circuit, the first failure opens it again.

/** States of the breaker. */
export const BreakerState = {
  Closed: 'closed',
  Open: 'open',
  HalfOpen: 'half-open',
} as const;
/** One of {@link BreakerState}. */
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

/** A change of state, with why, for logs. */
export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: string;
  readonly at: number;
}

/** Settings of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** While open, how often a probe may run. */
  readonly probeIntervalMs: number;
  readonly now: () => number;
  readonly onTransition?: (transition: BreakerTransition) => void;
}

/** The breaker. All methods are synchronous and cheap: it sits on every request's path. */
export interface CircuitBreaker {
  readonly state: BreakerState;
  /** Whether a request may offload now. */
  allowsRequest(): boolean;
  onSuccess(): void;
  /** A failure that says the cloud is unwell (timeout, no responders, overloaded...). */
  onFailure(reason: string): void;
  /** Opens at once, e.g. when the connection to NATS drops. */
  trip(reason: string): void;
  /** True when open and no probe ran for `probeIntervalMs`; marks the probe as started. */
  takeProbeSlot(): boolean;
  /** A probe reached the cloud: requests may offload again (half-open). */
  onProbeSuccess(): void;
  /** Lets the next probe run without waiting for the interval, e.g. right after NATS reconnects. */
  expediteProbe(): void;
  readonly consecutiveFailures: number;
}

/** Creates a closed breaker. */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
    throw new RangeError(`"failureThreshold" must be a positive integer; got ${options.failureThreshold}`);
  }
  let state: BreakerState = BreakerState.Closed;
  let failures = 0;
  let lastProbeAt = Number.NEGATIVE_INFINITY;

  function move(to: BreakerState, reason: string): void {
    if (to === state) return;
    const transition = { from: state, to, reason, at: options.now() };
    state = to;
    // The first probe waits a full interval: the failure that opened the circuit is fresh evidence.
    if (to === BreakerState.Open) lastProbeAt = transition.at;
    options.onTransition?.(transition);
  }

  return {
    get state() {
      return state;
    },
    get consecutiveFailures() {
      return failures;
    },
    allowsRequest: () => state !== BreakerState.Open,
    onSuccess() {
      failures = 0;
      move(BreakerState.Closed, 'a request offloaded successfully');
    },
    onFailure(reason) {
      failures += 1;
      if (state === BreakerState.HalfOpen) move(BreakerState.Open, `failed again while half-open: ${reason}`);
      else if (state === BreakerState.Closed && failures >= options.failureThreshold) {
        move(BreakerState.Open, `${failures} consecutive failures, last: ${reason}`);
      }
    },
    trip(reason) {
      failures = Math.max(failures, options.failureThreshold);
      move(BreakerState.Open, reason);
    },
    takeProbeSlot() {
      if (state !== BreakerState.Open) return false;
      const now = options.now();
      if (now - lastProbeAt < options.probeIntervalMs) return false;
      lastProbeAt = now;
      return true;
    },
    onProbeSuccess() {
      if (state === BreakerState.Open) move(BreakerState.HalfOpen, 'a probe reached the cloud');
    },
    expediteProbe() {
      lastProbeAt = Number.NEGATIVE_INFINITY;
    },
  };
}
