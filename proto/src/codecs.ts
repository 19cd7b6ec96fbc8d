// The one registry of float codecs. A codec's name, its size on the wire, how it encodes, checks and decodes a
// float32 tensor and which codec the reply uses all live here, so the wire format, the schemas, the cost model and
// the planner cannot disagree: a name added to CODECS without a spec in CODEC_SPECS does not compile.
import { z } from 'zod';
import { fromLittleEndianBytes, toLittleEndianBytes } from './byte-order.js';
import { compressedCodecSpecs } from './compressed-codecs.js';
import { decodeFloat16, encodeFloat16 } from './float16.js';
import { dequantizeInt8, INT8_MAX, INT8_MIN, quantizeInt8 } from './int8-affine.js';
import { ProtocolErrorCode } from './protocol-error.js';
import { showValue } from './schema-issues.js';

/**
 * The float codecs: the encodings of a float32 tensor the planner chooses between. The fixed-width ones come first,
 * smallest precision loss first, then the compressed ones (a deflate stage whose size depends on the values):
 * `u8-deflate` is lossless (exact 8-bit palettes of an image-like tensor, else f32), `f16-deflate` and `int8-deflate`
 * lose exactly what f16 and int8 lose.
 */
export const CODECS = ['f32', 'f16', 'int8', 'u8-deflate', 'f16-deflate', 'int8-deflate'] as const;
/** One of {@link CODECS}. */
export type Codec = (typeof CODECS)[number];
/** zod schema of a codec name: every schema that names a codec uses it. */
export const CodecSchema = z.enum(CODECS);

/** The encoding of integer tensors (int64, int32, uint8): little-endian elements, uncompressed. Not a float codec. */
export const RAW_ENCODING = 'raw';
/** Every value of a wire tensor's `encoding`: the float codecs, then raw. */
export const TENSOR_ENCODINGS = [...CODECS, RAW_ENCODING] as const;
/** One of {@link TENSOR_ENCODINGS}. */
export type TensorEncoding = (typeof TENSOR_ENCODINGS)[number];

/**
 * The lossless codec. Options that send nothing (edge-only, a tail staged on the edge) record it as their codec, and
 * a reply to a request without float inputs uses it.
 */
export const LOSSLESS_CODEC = 'f32' satisfies Codec;

/**
 * Codecs a plan may use when the caller names none: int8 (with or without deflate) costs accuracy, so it is used only
 * when asked for. The compressed codecs stay opt-in (`--codecs`) until the profile measures their size ratios.
 */
export const DEFAULT_PLAN_CODECS: readonly Codec[] = Object.freeze(['f32', 'f16']);

/** One value per codec (payload bytes, encode times): adding a codec adds a field everywhere this type is used. */
export type PerCodec<T> = Readonly<Record<Codec, T>>;

/** Options of encoding a float32 tensor. Only int8 reads them. */
export interface EncodeTensorOptions {
  /**
   * Quantize each channel along `axis` with its own scale and zero point instead of one pair for the tensor.
   * Costs ~10 bytes per channel and bounds the error per channel, which helps when channel ranges differ.
   * @default false
   */
  readonly perChannel?: boolean;
  /**
   * Channel axis for `perChannel`; 1 is the channel axis of NCHW activations.
   * @default 1
   */
  readonly axis?: number;
}

/** Channel axis used by per-channel int8 when none is given: C in NCHW. */
export const DEFAULT_CHANNEL_AXIS = 1;

/** The encoded elements of a float32 tensor and, for int8, its quantization parameters (u8-deflate: its `axis`). */
export interface CodecData {
  readonly data: Uint8Array;
  readonly scale?: number[];
  readonly zeroPoint?: number[];
  readonly axis?: number;
}

/** The same fields as they arrived, not yet checked. */
export interface UncheckedCodecData {
  readonly data: Uint8Array;
  readonly scale: unknown;
  readonly zeroPoint: unknown;
  readonly axis: unknown;
}

/** What is wrong with an encoded tensor: the ProtocolError code and the text after the tensor's name. */
export interface CodecProblem {
  readonly code: ProtocolErrorCode;
  readonly message: string;
}

/** How one codec puts float32 values on the wire and reads them back. */
export interface CodecSpec {
  /**
   * Bytes of `data` per float32 element, or `measured` for a codec whose size depends on the values (the planner
   * then cannot size it in advance and refuses it).
   */
  readonly bytesPerElement: number | 'measured';
  /**
   * The fixed-width codec a measured codec's size is estimated from: what its entropy stage compresses (or, for
   * u8-deflate, its fallback). The planner sizes a measured codec as this codec's bytes × the ratio the profile
   * measured. A fixed-width codec names itself.
   */
  readonly uncompressed: Codec;
  /** Bytes a tensor adds beside its data in the planner's size estimates (int8: its scale and zero point). */
  readonly tensorOverheadBytes: number;
  /** True when `data` is the float32 elements themselves (little-endian), so a receiver may copy instead of decode. */
  readonly verbatim: boolean;
  /** Codec of the float outputs the cloud sends back for a request in this codec. */
  readonly replyCodec: Codec;
  /**
   * Encodes `values` of shape `dims` (already checked to agree); throws RangeError for bad options. A codec that
   * cannot represent the values falls back to another and names it in `encoding` (u8-deflate → f32).
   */
  encode(
    name: string,
    values: Float32Array,
    dims: readonly number[],
    options: EncodeTensorOptions,
  ): CodecData & { readonly encoding?: Codec };
  /**
   * Checks the parameters of untrusted data of shape `dims`, after its byte length passed (a `measured` codec's
   * length is only known once inflated: its decode checks it).
   */
  check(dims: readonly number[], tensor: UncheckedCodecData): CodecProblem | undefined;
  /**
   * Reconstructs the float32 values of data that passed {@link CodecSpec.check}. A measured codec inflates with the
   * output bounded by `dims` and returns a problem for data that is corrupt or expands to the wrong size.
   */
  decode(tensor: CodecData, dims: readonly number[]): Float32Array | CodecProblem;
}

/** The fixed-width codecs, which the compressed ones (compressed-codecs.ts) build on. */
export type FixedWidthCodec = 'f32' | 'f16' | 'int8';

const FIXED_WIDTH_SPECS: Readonly<Record<FixedWidthCodec, CodecSpec>> = {
  f32: {
    bytesPerElement: 4,
    uncompressed: 'f32',
    tensorOverheadBytes: 0,
    verbatim: true,
    replyCodec: 'f32',
    encode: (_name, values) => ({ data: toLittleEndianBytes(values) }),
    check: (_dims, tensor) => parametersProblem('f32', tensor),
    // A view on the received bytes when they sit at a 4-aligned offset: f32 decodes without a copy.
    decode: (tensor) => fromLittleEndianBytes(Float32Array, tensor.data),
  },
  f16: {
    bytesPerElement: 2,
    uncompressed: 'f16',
    tensorOverheadBytes: 0,
    verbatim: false,
    replyCodec: 'f16',
    encode: (_name, values) => ({ data: encodeFloat16(values) }),
    check: (_dims, tensor) => parametersProblem('f16', tensor),
    decode: (tensor) => decodeFloat16(tensor.data),
  },
  int8: {
    bytesPerElement: 1,
    uncompressed: 'int8',
    // One scale and one zero point per tensor.
    tensorOverheadBytes: 8,
    verbatim: false,
    // Replies are never quantised: an int8 request gets its float outputs back in f16.
    replyCodec: 'f16',
    encode: encodeInt8,
    check: int8Problem,
    decode: (tensor, dims) =>
      dequantizeInt8(tensor.data, dims, tensor.scale ?? [], tensor.zeroPoint ?? [], tensor.axis),
  },
};

/** The spec of every codec. */
export const CODEC_SPECS: Readonly<Record<Codec, CodecSpec>> = Object.freeze({
  ...FIXED_WIDTH_SPECS,
  ...compressedCodecSpecs(FIXED_WIDTH_SPECS),
});

/** True when `value` names a float codec. */
export function isCodec(value: unknown): value is Codec {
  return (CODECS as readonly unknown[]).includes(value);
}

/** Payload bytes of `count` float32 elements in `codec`, without msgpack framing or int8 scale/zero points. */
export function tensorWireBytes(count: number, codec: Codec): number {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`"count" must be a non-negative safe integer; got ${String(count)}`);
  }
  return count * fixedWidth(codec);
}

/**
 * Bytes one float32 tensor of `count` elements adds to a request in `codec`, as the planner estimates it: the data
 * plus the codec's per-tensor parameters. A measured codec is sized as its uncompressed codec × `ratio` (the
 * compressed ÷ uncompressed size a profile measured; 1, the uncompressed size, when none was).
 */
export function estimateTensorBytes(codec: Codec, count: number, ratio = 1): number {
  const spec = CODEC_SPECS[codec];
  if (spec === undefined) throw new TypeError(`"codec" must be one of ${CODECS.join(', ')}; got ${String(codec)}`);
  if (!(ratio >= 0) || !Number.isFinite(ratio)) throw new RangeError(`"ratio" must be finite and >= 0; got ${ratio}`);
  const data = count * fixedWidth(spec.uncompressed);
  return (spec.bytesPerElement === 'measured' ? Math.ceil(data * ratio) : data) + spec.tensorOverheadBytes;
}

/** A list of codec names from text such as `f32,f16`; undefined when it is empty or names an unknown codec. */
export function parseCodecList(text: string): Codec[] | undefined {
  const list = text.split(',').map((s) => s.trim());
  return list.length > 0 && list.every(isCodec) ? list : undefined;
}

/** One value per codec, `f` of each: builds a {@link PerCodec} table without naming the codecs. */
export function mapCodecs<T>(f: (codec: Codec) => T): Record<Codec, T> {
  return Object.fromEntries(CODECS.map((codec) => [codec, f(codec)])) as Record<Codec, T>;
}

/**
 * A zod schema of a per-codec table (manifests, profiles): one `schema` field per codec. A compressed codec's field
 * may be missing, as in bundles and profiles written before it existed: it then reads as its uncompressed codec's
 * value, the size the planner assumes for a codec it has no measurement of.
 */
export function perCodecSchema<T extends z.ZodType>(schema: T) {
  return z
    .object(mapCodecs((codec) => (CODEC_SPECS[codec].bytesPerElement === 'measured' ? schema.optional() : schema)))
    .transform((parsed) => {
      const table = parsed as Partial<Record<Codec, z.output<T>>>;
      return mapCodecs((codec) => (table[codec] ?? table[CODEC_SPECS[codec].uncompressed])!);
    });
}

/** A problem when `data` is not `count` × `width` bytes: for fixed-size codecs and raw tensors alike. */
export function lengthProblem(
  encoding: TensorEncoding,
  width: number,
  dims: readonly number[],
  count: number,
  tensor: { readonly data: Uint8Array },
): CodecProblem | undefined {
  if (tensor.data.byteLength === count * width) return undefined;
  return {
    code: ProtocolErrorCode.BadLength,
    message: `data has ${tensor.data.byteLength} bytes but dims [${dims.join(', ')}] in ${encoding} need ${count * width}`,
  };
}

/** A problem when a tensor in an encoding without parameters carries scale, zeroPoint or axis anyway. */
export function parametersProblem(
  encoding: TensorEncoding,
  tensor: Omit<UncheckedCodecData, 'data'>,
): CodecProblem | undefined {
  const present = tensor.scale !== undefined || tensor.zeroPoint !== undefined || tensor.axis !== undefined;
  if (!present) return undefined;
  return {
    code: ProtocolErrorCode.BadQuantization,
    message: `scale, zeroPoint and axis are only valid with encoding int8, not ${encoding}`,
  };
}

function fixedWidth(codec: Codec): number {
  const width = CODEC_SPECS[codec]?.bytesPerElement;
  if (width === undefined) throw new TypeError(`"encoding" must be one of ${CODECS.join(', ')}; got ${String(codec)}`);
  if (width === 'measured') throw new TypeError(`codec ${codec} has no fixed size; encode a tensor to measure it`);
  return width;
}

function encodeInt8(name: string, values: Float32Array, dims: readonly number[], options: EncodeTensorOptions) {
  if (options.perChannel !== true) {
    const q = quantizeInt8(values, dims);
    return { data: q.bytes, scale: q.scale, zeroPoint: q.zeroPoint };
  }
  const axis = options.axis ?? DEFAULT_CHANNEL_AXIS;
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
    throw new RangeError(
      `"axis" must be an integer in [0, ${dims.length}) for tensor "${name}" with dims [${dims.join(', ')}]; got ${axis}`,
    );
  }
  const q = quantizeInt8(values, dims, axis);
  return { data: q.bytes, scale: q.scale, zeroPoint: q.zeroPoint, axis };
}

// One scale and zero point for the tensor, or one per channel along `axis`; scales finite and > 0, zero points int8.
function int8Problem(dims: readonly number[], tensor: UncheckedCodecData): CodecProblem | undefined {
  const message = int8ParameterText(dims, tensor);
  return message === undefined ? undefined : { code: ProtocolErrorCode.BadQuantization, message };
}

function int8ParameterText(dims: readonly number[], { scale, zeroPoint, axis }: UncheckedCodecData) {
  let channels = 1;
  if (axis !== undefined) {
    if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
      return `axis ${showValue(axis)} must be an integer in [0, ${dims.length})`;
    }
    channels = dims[axis] ?? 0;
  }
  const what = axis === undefined ? '1 entry (per tensor)' : `${channels} entries (one per channel on axis ${axis})`;
  if (!Array.isArray(scale) || scale.length !== channels) return `scale must be an array of ${what}`;
  if (!Array.isArray(zeroPoint) || zeroPoint.length !== channels) return `zeroPoint must be an array of ${what}`;
  const badScale = (scale as unknown[]).findIndex((s) => typeof s !== 'number' || !Number.isFinite(s) || s <= 0);
  if (badScale >= 0) return `scale[${badScale}] = ${showValue(scale[badScale])} must be finite and > 0`;
  const badZero = (zeroPoint as unknown[]).findIndex(
    (z) => typeof z !== 'number' || !Number.isInteger(z) || z < INT8_MIN || z > INT8_MAX,
  );
  if (badZero >= 0) {
    return `zeroPoint[${badZero}] = ${showValue(zeroPoint[badZero])} must be an integer in [${INT8_MIN}, ${INT8_MAX}]`;
  }
  return undefined;
}
