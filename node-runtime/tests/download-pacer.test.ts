import { describe, expect, it } from 'vitest';
import { BundleStoreError } from '../src/bundle-store/bundle-store-error.js';
import { createDownloadPacer, type PacerClock } from '../src/bundle-store/download-pacer.js';

const CHUNK = 128 * 1024;

/** A clock that advances only when the pacer sleeps (and by `advance`, as if chunks took time to arrive). */
function fakeClock(): PacerClock & { t: number; sleeps: number[]; advance(ms: number): void } {
  const clock = {
    t: 0,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      clock.sleeps.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
    advance(ms: number) {
      clock.t += ms;
    },
  };
  return clock;
}

describe('download pacer', () => {
  it('keeps the average rate at the limit: 1 MiB at 200 KiB/s takes 5.12 s', async () => {
    const clock = fakeClock();
    const pacer = createDownloadPacer(200 * 1024, clock);
    for (let i = 0; i < 8; i++) await pacer.take(CHUNK);
    expect(clock.t).toBeCloseTo(((8 * CHUNK) / (200 * 1024)) * 1000, 6);
    expect(clock.sleeps).toHaveLength(8);
    for (const ms of clock.sleeps) expect(ms).toBeCloseTo(640, 6);
  });

  it('does not sleep when chunks already arrive slower than the limit', async () => {
    const clock = fakeClock();
    const pacer = createDownloadPacer(1024 * 1024, clock);
    clock.advance(1000); // an idle second fills the bucket (at most one second of bytes)
    for (let i = 0; i < 4; i++) {
      await pacer.take(CHUNK);
      clock.advance(200); // the link gives 640 KiB/s, under the 1 MiB/s limit
    }
    expect(clock.sleeps).toEqual([]);
  });

  it('caps a burst after an idle spell at one second of bytes', async () => {
    const clock = fakeClock();
    const pacer = createDownloadPacer(CHUNK, clock); // one chunk per second
    clock.advance(60_000);
    await pacer.take(CHUNK); // paid by the saved-up second
    expect(clock.sleeps).toEqual([]);
    await pacer.take(CHUNK);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('reads a limit function again before each chunk', async () => {
    const clock = fakeClock();
    let limit = CHUNK;
    const pacer = createDownloadPacer(() => limit, clock);
    await pacer.take(CHUNK);
    expect(clock.sleeps).toEqual([1000]);
    limit = 4 * CHUNK;
    await pacer.take(CHUNK);
    expect(clock.sleeps[1]).toBeCloseTo(250, 6);
  });

  it('does not pace without a usable limit', async () => {
    for (const limit of [undefined, 0, -1, Number.NaN, Number.POSITIVE_INFINITY, () => 0]) {
      const clock = fakeClock();
      const pacer = createDownloadPacer(limit, clock);
      for (let i = 0; i < 10; i++) await pacer.take(CHUNK);
      expect(clock.sleeps).toEqual([]);
    }
  });

  it('rejects with cancelled when the signal is aborted, also during the real sleep', async () => {
    const aborted = new AbortController();
    aborted.abort(new Error('rolled back'));
    const pacer = createDownloadPacer(CHUNK, fakeClock());
    await expect(pacer.take(CHUNK, aborted.signal)).rejects.toMatchObject({ code: 'cancelled' });

    const controller = new AbortController();
    const real = createDownloadPacer(1024); // a 128 s sleep, real timers
    const taking = real.take(CHUNK, controller.signal);
    setTimeout(() => controller.abort(new Error('newer version')), 20);
    const error = await taking.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BundleStoreError);
    expect((error as BundleStoreError).code).toBe('cancelled');
    expect((error as Error).message).toMatch(/newer version/);
  });
});
