// Deterministic randomness for property-style tests: a failure reproduces with the same seed.

/** mulberry32: a tiny 32-bit PRNG, good enough for test data. Returns floats in [0, 1). */
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

/** `length` floats drawn uniformly from [lo, hi), rounded to float32. */
export function randomFloats(random: () => number, length: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length }, () => lo + (hi - lo) * random());
}

/** `length` random bytes. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}
