import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BatchPolicy, createTailBatcher, type DropReason, type QueuedEntry } from '../src/tail/tail-batcher.js';

interface Harness {
  offer(name: string, samples?: number, deadline?: number): boolean;
  /** Batches started so far, as item names. */
  readonly batches: string[][];
  readonly dropped: [string, DropReason][];
  /** Completes the oldest running batch. */
  finishBatch(): Promise<void>;
  readonly batcher: ReturnType<typeof createTailBatcher<string>>;
}

function harness(policy: Partial<BatchPolicy> = {}): Harness {
  const batches: string[][] = [];
  const dropped: [string, DropReason][] = [];
  const running: (() => void)[] = [];
  const batcher = createTailBatcher<string>({
    policy: { maxBatchSize: 4, maxQueueDelayUs: 10_000, maxQueueRequests: 8, ...policy },
    now: () => Date.now(),
    runBatch: (batch: readonly QueuedEntry<string>[]) => {
      batches.push(batch.map((e) => e.item));
      return new Promise<void>((resolve) => running.push(resolve));
    },
    drop: (entry, reason) => dropped.push([entry.item, reason]),
  });
  return {
    offer: (name, samples = 1, deadline) => batcher.offer(name, samples, deadline),
    batches,
    dropped,
    async finishBatch() {
      running.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
    },
    batcher,
  };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('tail batcher: when a batch leaves', () => {
  it('dispatches at once when the queued samples reach the max batch size', () => {
    const h = harness();
    for (const name of ['a', 'b', 'c']) h.offer(name);
    expect(h.batches).toEqual([]);
    h.offer('d');
    expect(h.batches).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('dispatches a partial batch when the oldest request has waited the max queue delay', async () => {
    const h = harness({ maxQueueDelayUs: 5000 });
    h.offer('a');
    await vi.advanceTimersByTimeAsync(3);
    h.offer('b');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.batches).toEqual([['a', 'b']]);
  });

  it('with a zero delay, sends a lone request at once', () => {
    const h = harness({ maxQueueDelayUs: 0 });
    h.offer('a');
    expect(h.batches).toEqual([['a']]);
  });

  it('runs one batch at a time; requests arriving meanwhile form the next batch', async () => {
    const h = harness({ maxQueueDelayUs: 0 });
    h.offer('a');
    for (const name of ['b', 'c', 'd', 'e', 'f']) h.offer(name);
    expect(h.batches).toEqual([['a']]);
    expect(h.batcher.busy).toBe(true);
    expect(h.batcher.depth).toBe(5);
    await h.finishBatch();
    expect(h.batches).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    await h.finishBatch();
    expect(h.batches.at(-1)).toEqual(['f']);
  });
});

describe('tail batcher: what goes into a batch', () => {
  it('counts samples, not requests, and keeps FIFO order: it stops at the first request that does not fit', () => {
    const h = harness({ maxBatchSize: 8 });
    h.offer('a', 3);
    h.offer('b', 4);
    h.offer('c', 2);
    expect(h.batches).toEqual([['a', 'b']]);
    expect(h.batcher.depth).toBe(1);
  });

  it('runs a request larger than the max batch size alone', () => {
    const h = harness({ maxBatchSize: 4 });
    h.offer('big', 10);
    expect(h.batches).toEqual([['big']]);
  });
});

describe('tail batcher: back-pressure and deadlines', () => {
  it('refuses offers past the queue bound and takes them again once there is room', async () => {
    const h = harness({ maxBatchSize: 1, maxQueueRequests: 2, maxQueueDelayUs: 0 });
    expect(h.offer('running')).toBe(true);
    expect(h.offer('q1')).toBe(true);
    expect(h.offer('q2')).toBe(true);
    expect(h.offer('q3')).toBe(false);
    await h.finishBatch();
    expect(h.offer('q3')).toBe(true);
  });

  it('drops a request whose deadline passes while it waits, without running it', async () => {
    const h = harness({ maxQueueDelayUs: 0, maxBatchSize: 1 });
    h.offer('running');
    h.offer('late', 1, Date.now() + 5);
    h.offer('fine', 1, Date.now() + 1000);
    await vi.advanceTimersByTimeAsync(6);
    expect(h.dropped).toEqual([['late', 'expired']]);
    await h.finishBatch();
    expect(h.batches).toEqual([['running'], ['fine']]);
  });

  it('flush() dispatches without waiting for the delay; close() drops what is queued and refuses more', async () => {
    const h = harness({ maxQueueDelayUs: 1_000_000, maxBatchSize: 2 });
    h.offer('a');
    h.batcher.flush();
    expect(h.batches).toEqual([['a']]);
    h.offer('b');
    h.batcher.close();
    expect(h.dropped).toEqual([['b', 'closed']]);
    expect(h.offer('c')).toBe(false);
    const idle = h.batcher.idle();
    await h.finishBatch();
    await expect(idle).resolves.toBeUndefined();
  });
});
