// The replica-wide bound on work held at once: a count of requests (they cost queue slots and replies) and their
// bytes, so memory stays bounded whatever the message sizes. A request enters with its wire bytes (all that is known
// before it is read) and, once its tensors' dims are read, grows to what it costs decoded (see request-cost.ts):
// an int8 element arrives as one byte and becomes a 4-byte float.

/** Limits of {@link createAdmission}. */
export interface AdmissionLimits {
  readonly maxRequests: number;
  readonly maxBytes: number;
}

/** Admission control of one replica. */
export interface Admission {
  /** Admits a request of `bytes`; false when either limit would be passed. */
  tryEnter(bytes: number): boolean;
  /**
   * Adds `bytes` to a request already admitted (its decoded cost beyond its wire bytes); false, changing nothing,
   * when that would pass `maxBytes`.
   */
  tryGrow(bytes: number): boolean;
  /** Releases a request: `bytes` is everything {@link tryEnter} and {@link tryGrow} admitted for it. */
  leave(bytes: number): void;
  readonly inFlight: number;
  readonly inFlightBytes: number;
  readonly limits: AdmissionLimits;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
}

/** Creates admission control with the given limits. A single request larger than `maxBytes` is still admitted alone. */
export function createAdmission(limits: AdmissionLimits): Admission {
  let inFlight = 0;
  let inFlightBytes = 0;
  let idleWaiters: (() => void)[] = [];
  return {
    tryEnter(bytes) {
      if (inFlight >= limits.maxRequests) return false;
      if (inFlight > 0 && inFlightBytes + bytes > limits.maxBytes) return false;
      inFlight += 1;
      inFlightBytes += bytes;
      return true;
    },
    tryGrow(bytes) {
      if (bytes <= 0) return true;
      if (inFlightBytes + bytes > limits.maxBytes) return false;
      inFlightBytes += bytes;
      return true;
    },
    leave(bytes) {
      inFlight -= 1;
      inFlightBytes -= bytes;
      if (inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    },
    get inFlight() {
      return inFlight;
    },
    get inFlightBytes() {
      return inFlightBytes;
    },
    limits,
    idle() {
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
