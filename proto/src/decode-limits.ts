/** Limits applied while decoding untrusted bytes, so a small message cannot make the receiver allocate gigabytes. */
export interface DecodeLimits {
  /**
   * Most elements in one tensor (product of its dims).
   * @default 16_777_216
   */
  readonly maxElements?: number;
  /**
   * Most tensors in one message.
   * @default 64
   */
  readonly maxTensors?: number;
}

/** {@link DecodeLimits} with every field set, validated and frozen by {@link resolveDecodeLimits}. */
export interface ResolvedDecodeLimits {
  readonly maxElements: number;
  readonly maxTensors: number;
}

/** Limits used when a caller passes none. */
export const DEFAULT_DECODE_LIMITS: ResolvedDecodeLimits = Object.freeze({
  maxElements: 16_777_216,
  maxTensors: 64,
});

/** Fills in defaults and checks every limit is a positive safe integer (RangeError naming the field otherwise). */
export function resolveDecodeLimits(limits?: DecodeLimits): ResolvedDecodeLimits {
  if (limits === undefined || limits === DEFAULT_DECODE_LIMITS) return DEFAULT_DECODE_LIMITS;
  const resolved = {
    maxElements: limits.maxElements ?? DEFAULT_DECODE_LIMITS.maxElements,
    maxTensors: limits.maxTensors ?? DEFAULT_DECODE_LIMITS.maxTensors,
  };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`"limits.${key}" must be a positive safe integer; got ${String(value)}`);
    }
  }
  return Object.freeze(resolved);
}
