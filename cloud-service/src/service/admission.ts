// The replica-wide bound on work held at once: a count of requests (they cost queue slots and replies) and their
// bytes (they pin received buffers until answered), so memory stays bounded whatever the message sizes.

/** Limits of {@link createAdmission}. */
export interface AdmissionLimits {
  readonly maxRequests: number;
  readonly maxBytes: number;
}

/** Admission control of one replica. */
export interface Admission {
  /** Admits a request of `bytes`; false when either limit would be passed. */
  tryEnter(bytes: number): boolean;
  /** Releases what {@link tryEnter} admitted. */
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
