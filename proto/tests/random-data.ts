// Generated test data for property-style tests, drawn from the shared seeded PRNG: a failure reproduces with the
// same seed.

/** `length` floats drawn uniformly from [lo, hi), rounded to float32. */
export function randomFloats(random: () => number, length: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length }, () => lo + (hi - lo) * random());
}

/** `length` random bytes. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}
