// The one seeded PRNG in Cleave: post-hoc exit training, synthetic profiling inputs and the tests' generated data
// all draw from it, so a run reproduces from its seed without a dependency. Changing the algorithm changes the
// weights of every post-hoc exit trained with the same seed.

/**
 * mulberry32: a tiny 32-bit PRNG, fast and well-distributed enough for shuffling, synthetic inputs and test data
 * (not for anything that must be unpredictable). Returns a generator of floats in [0, 1); the same seed always
 * gives the same sequence. The seed is taken modulo 2³².
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
