// Dynamic batching for one tail, with Triton's semantics: a batch leaves as soon as it is full or its oldest
// request has waited the max queue delay, one batch runs at a time, the queue is bounded, and requests whose
// deadline passes while queued are dropped rather than run.

/** How a tail batches. Validated by the service config. */
export interface BatchPolicy {
  /** Most samples (sum of dim 0) in one run. A single larger request runs alone. */
  readonly maxBatchSize: number;
  /** Longest the oldest queued request waits for company before its batch runs, in microseconds. */
  readonly maxQueueDelayUs: number;
  /** Most requests queued (not yet running); past it, offers are refused. */
  readonly maxQueueRequests: number;
}

/** A queued request as the batcher sees it. */
export interface QueuedEntry<T> {
  readonly item: T;
  readonly samples: number;
  /** Absolute deadline (ms on the batcher's clock), if any. */
  readonly deadline: number | undefined;
  readonly enqueuedAt: number;
}

/** Why an entry left the queue without running. */
export type DropReason = 'expired' | 'closed';

/** What a batcher needs: its policy, a clock in ms, and callbacks for batches and dropped entries. */
export interface TailBatcherDeps<T> {
  readonly policy: BatchPolicy;
  readonly now: () => number;
  /**
   * Runs one batch; must settle every entry itself and never reject. It calls `release()` as soon as the runtime is
   * free (before replying), so the next batch starts while this one's replies are encoded; settling also releases.
   */
  readonly runBatch: (batch: readonly QueuedEntry<T>[], release: () => void) => Promise<void>;
  /** Settles an entry that will not run. */
  readonly drop: (entry: QueuedEntry<T>, reason: DropReason) => void;
}

/** The batcher of one tail. */
export interface TailBatcher<T> {
  /** Queues a request; false when the queue is full (answer `overloaded`). */
  offer(item: T, samples: number, deadline: number | undefined): boolean;
  /** Requests waiting (not running). */
  readonly depth: number;
  /** True while a batch runs. */
  readonly busy: boolean;
  /** From now on, dispatch without waiting for the queue delay (used when draining). */
  flush(): void;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
  /** Drops everything queued with reason `closed` and refuses further offers. A running batch still finishes. */
  close(): void;
}

/** Creates the batcher of one tail. */
export function createTailBatcher<T>(deps: TailBatcherDeps<T>): TailBatcher<T> {
  const { policy, now } = deps;
  const delayMs = policy.maxQueueDelayUs / 1000;
  let queue: QueuedEntry<T>[] = [];
  let running = false;
  let flushing = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let earliestDeadline = Number.POSITIVE_INFINITY;
  let idleWaiters: (() => void)[] = [];

  function pump(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const t = now();
    if (t >= earliestDeadline) expireDue(t);
    if (!running && queue.length > 0 && shouldDispatch(t)) dispatch();
    if (!running && queue.length === 0) notifyIdle();
    arm(t);
  }

  function shouldDispatch(t: number): boolean {
    if (flushing || t - queue[0]!.enqueuedAt >= delayMs) return true;
    let samples = 0;
    for (const entry of queue) {
      samples += entry.samples;
      if (samples >= policy.maxBatchSize) return true;
    }
    return false;
  }

  function dispatch(): void {
    // FIFO, stopping at the first request that does not fit, so no request is overtaken indefinitely.
    let samples = 0;
    let count = 0;
    for (const entry of queue) {
      if (count > 0 && samples + entry.samples > policy.maxBatchSize) break;
      samples += entry.samples;
      count += 1;
    }
    const batch = queue.slice(0, count);
    queue = queue.slice(count);
    earliestDeadline = minDeadline(queue);
    running = true;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      running = false;
      pump();
    };
    void deps
      .runBatch(batch, release)
      .catch(() => undefined)
      .finally(release);
  }

  function expireDue(t: number): void {
    const keep: QueuedEntry<T>[] = [];
    for (const entry of queue) {
      if (entry.deadline !== undefined && t >= entry.deadline) deps.drop(entry, 'expired');
      else keep.push(entry);
    }
    queue = keep;
    earliestDeadline = minDeadline(queue);
  }

  // One timer for whichever comes first: the oldest request's delay running out, or a deadline passing.
  function arm(t: number): void {
    let at = earliestDeadline;
    if (!running && queue.length > 0) at = Math.min(at, queue[0]!.enqueuedAt + delayMs);
    if (Number.isFinite(at)) timer = setTimeout(pump, Math.max(0, at - t));
  }

  function notifyIdle(): void {
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  return {
    offer(item, samples, deadline) {
      if (closed || queue.length >= policy.maxQueueRequests) return false;
      queue.push({ item, samples, deadline, enqueuedAt: now() });
      if (deadline !== undefined) earliestDeadline = Math.min(earliestDeadline, deadline);
      pump();
      return true;
    },
    get depth() {
      return queue.length;
    },
    get busy() {
      return running;
    },
    flush() {
      flushing = true;
      pump();
    },
    idle() {
      if (!running && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    close() {
      closed = true;
      const dropped = queue;
      queue = [];
      earliestDeadline = Number.POSITIVE_INFINITY;
      for (const entry of dropped) deps.drop(entry, 'closed');
      pump();
    },
  };
}

function minDeadline<T>(queue: readonly QueuedEntry<T>[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const entry of queue) if (entry.deadline !== undefined && entry.deadline < min) min = entry.deadline;
  return min;
}
