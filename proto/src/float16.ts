// IEEE-754 binary16 by hand: Node 20 has no Float16Array. Conversion starts from float32 (the tensors' dtype),
// rounds to nearest, ties to even, keeps signed zeros, subnormals, infinities and NaN, and overflows to infinity.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Largest finite half-precision value. */
export const FLOAT16_MAX = 65504;

/** Half-precision bit pattern (0..0xffff) nearest to `value` after rounding it to float32. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;

  if (exponent === 0xff) {
    // Infinity keeps its sign; NaN stays a (quiet) NaN with the top of its payload.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the 24-bit significand, implicit bit included, into 10 bits.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const kept = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of the 10 bits lands on the smallest normal exponent, which is the right answer.
    return sign | (rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept);
  }
  const kept = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry may ripple into the exponent, up to 0x7c00 (infinity): exactly IEEE overflow by rounding.
  return sign | (rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? kept + 1 : kept);
}

/** The number a half-precision bit pattern (0..0xffff) stands for. Exact: every half is a float32. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

let decodeTable: Float32Array | undefined;

// 65,536 entries (256 KiB), built on first use: decoding then costs one lookup per element.
function table(): Float32Array {
  if (decodeTable === undefined) {
    decodeTable = new Float32Array(0x10000);
    for (let bits = 0; bits < 0x10000; bits++) decodeTable[bits] = float16BitsToNumber(bits);
  }
  return decodeTable;
}

/** Encodes float32 values as little-endian half-precision bytes (2 per element). */
export function encodeFloat16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const bits = float32ToFloat16Bits(values[i] ?? 0);
    out[2 * i] = bits & 0xff;
    out[2 * i + 1] = bits >>> 8;
  }
  return out;
}

/** Decodes little-endian half-precision bytes into float32 values. Throws RangeError for an odd byte length. */
export function decodeFloat16(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 2 !== 0) throw new RangeError(`"bytes" length ${bytes.byteLength} is odd`);
  const lookup = table();
  const out = new Float32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = lookup[(bytes[2 * i] ?? 0) | ((bytes[2 * i + 1] ?? 0) << 8)] ?? 0;
  }
  return out;
}
