// Affine int8 quantization with ONNX QuantizeLinear / DequantizeLinear semantics:
//   q = clamp(round(x / scale) + zeroPoint, -128, 127),   x' = (q - zeroPoint) * scale.
// The range is widened to include 0 so that zero (padding, ReLU output) is represented exactly, and scale is
// (max - min) / 255 so the range fills all 256 levels. Error per element is then at most scale / 2.

/** Smallest int8 value. */
export const INT8_MIN = -128;
/** Largest int8 value. */
export const INT8_MAX = 127;

/** Scale and zero point of one quantized range (the whole tensor, or one channel). */
export interface AffineParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** Output of {@link quantizeInt8}: int8 elements stored as bytes, and one scale / zero point per channel. */
export interface QuantizedInt8 {
  readonly bytes: Uint8Array;
  readonly scale: number[];
  readonly zeroPoint: number[];
}

/** How elements split into channels: `outer` blocks of `channels` × `inner` elements, in row-major order. */
interface ChannelLayout {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
}

/** Scale and zero point mapping [min(lo, 0), max(hi, 0)] onto [-128, 127]. Ignores non-finite bounds. */
export function affineParamsFromRange(lo: number, hi: number): AffineParams {
  const min = Math.min(Number.isFinite(lo) ? lo : 0, 0);
  const max = Math.max(Number.isFinite(hi) ? hi : 0, 0);
  const range = max - min;
  if (!Number.isFinite(range)) throw new RangeError(`range [${lo}, ${hi}] is too wide to quantize`);
  // An all-zero range would give scale 0; any positive scale represents zeros exactly.
  if (range === 0) return { scale: 1, zeroPoint: 0 };
  const scale = range / 255;
  // `+ 0` turns a -0 from Math.round(-0.5) into 0: the zero point is an integer on the wire.
  const zeroPoint = clampInt8(Math.round(INT8_MIN - min / scale)) + 0;
  return { scale, zeroPoint };
}

/**
 * Quantizes `values` (shape `dims`) to int8: per tensor when `axis` is undefined, else per channel along `axis`.
 * NaN maps to the zero point (0.0) and ±Infinity saturates; neither widens the range.
 */
export function quantizeInt8(values: Float32Array, dims: readonly number[], axis?: number): QuantizedInt8 {
  const { outer, channels, inner } = channelLayout(dims, axis, values.length);
  const lo = new Float64Array(channels).fill(Number.POSITIVE_INFINITY);
  const hi = new Float64Array(channels).fill(Number.NEGATIVE_INFINITY);
  // Plain nested loops, no per-element callbacks: this runs on every offloaded cut tensor, on slow gateways.
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let l = lo[c]!;
      let h = hi[c]!;
      for (const end = i + inner; i < end; i++) {
        const x = values[i]!;
        if (x < l && x !== Number.NEGATIVE_INFINITY) l = x;
        if (x > h && x !== Number.POSITIVE_INFINITY) h = x;
      }
      lo[c] = l;
      hi[c] = h;
    }
  }
  const scale: number[] = [];
  const zeroPoint: number[] = [];
  for (let c = 0; c < channels; c++) {
    const params = affineParamsFromRange(lo[c]!, hi[c]!);
    scale.push(params.scale);
    zeroPoint.push(params.zeroPoint);
  }
  const out = new Int8Array(values.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scale[c]!;
      const z = zeroPoint[c]!;
      for (const end = i + inner; i < end; i++) {
        const x = values[i]!;
        // NaN compares false both ways, so it lands on the zero point; ±Infinity saturates.
        const q = Math.round(x / s) + z;
        out[i] = q >= INT8_MIN ? (q <= INT8_MAX ? q : INT8_MAX) : x !== x ? z : INT8_MIN;
      }
    }
  }
  return { bytes: new Uint8Array(out.buffer), scale, zeroPoint };
}

/**
 * Reconstructs float32 values from int8 `bytes` of shape `dims`. `scale` and `zeroPoint` hold one entry, or one
 * per channel along `axis`. Parameters must already be validated (see validateEncodedTensor).
 */
export function dequantizeInt8(
  bytes: Uint8Array,
  dims: readonly number[],
  scale: readonly number[],
  zeroPoint: readonly number[],
  axis?: number,
): Float32Array {
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { outer, channels, inner } = channelLayout(dims, axis, q.length);
  if (scale.length !== channels || zeroPoint.length !== channels) {
    throw new RangeError(`"scale" and "zeroPoint" need ${channels} entries each`);
  }
  const out = new Float32Array(q.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scale[c]!;
      const z = zeroPoint[c]!;
      for (const end = i + inner; i < end; i++) out[i] = (q[i]! - z) * s;
    }
  }
  return out;
}

function channelLayout(dims: readonly number[], axis: number | undefined, count: number): ChannelLayout {
  if (axis === undefined) return { outer: 1, channels: 1, inner: count };
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
    throw new RangeError(`"axis" must be an integer in [0, ${dims.length}) for dims [${dims.join(', ')}]; got ${axis}`);
  }
  const product = (from: number, to: number): number => dims.slice(from, to).reduce((a, b) => a * b, 1);
  const layout = { outer: product(0, axis), channels: dims[axis] ?? 0, inner: product(axis + 1, dims.length) };
  if (layout.outer * layout.channels * layout.inner !== count) {
    throw new RangeError(`dims [${dims.join(', ')}] do not describe ${count} elements`);
  }
  return layout;
}

function clampInt8(q: number): number {
  return q < INT8_MIN ? INT8_MIN : q > INT8_MAX ? INT8_MAX : q;
}
