// The compressed codecs: a fixed-width codec's bytes (or, for u8-deflate, an exact 8-bit palette form) through a
// DEFLATE stage. Their size depends on the values, so they are `measured`: the profile records the compressed ÷
// uncompressed ratio on real inputs and the planner sizes them with it. Decoding inflates with the output bounded by
// the tensor's dims, so a small message cannot expand past what its dims declare.
import { fromBytePalette, paletteAxis, paletteFormBounds, toBytePalette } from './byte-palette.js';
import type { Codec, CodecProblem, CodecSpec, FixedWidthCodec, UncheckedCodecData } from './codecs.js';
import { type DeflateLevel, deflateBytes, inflateExactly } from './deflate-stage.js';
import { ProtocolErrorCode } from './protocol-error.js';
import { showValue } from './schema-issues.js';

/** The compressed codec names, each with its spec in {@link compressedCodecSpecs}. */
type CompressedCodec = Exclude<Codec, FixedWidthCodec>;

// Cut tensors are compressed on the edge for every offloaded request, so their stage runs at the fastest level: on
// activations level 1 is within a few percent of level 6 in size at about half the time (see proto/README.md).
const CUT_TENSOR_LEVEL: DeflateLevel = 1;
// An input image is compressed once per request too, but it competes with a PNG file (level 3 in fast-png), so it
// is compressed harder to stay at or below that size.
const IMAGE_LEVEL: DeflateLevel = 6;

/** The specs of the compressed codecs, built on the fixed-width specs they compress. */
export function compressedCodecSpecs(
  base: Readonly<Record<FixedWidthCodec, CodecSpec>>,
): Readonly<Record<CompressedCodec, CodecSpec>> {
  return {
    'u8-deflate': {
      bytesPerElement: 'measured',
      uncompressed: 'f32',
      tensorOverheadBytes: 0,
      verbatim: false,
      // Lossless in, lossless out.
      replyCodec: 'f32',
      encode: (name, values, dims, options) => {
        const form = toBytePalette(values, dims);
        // More than 256 distinct values in a channel: not 8-bit data, so send it exactly as f32.
        if (form === undefined) return { ...base.f32.encode(name, values, dims, options), encoding: 'f32' };
        const data = deflateBytes(form.bytes, IMAGE_LEVEL);
        return form.axis === undefined ? { data } : { data, axis: form.axis };
      },
      check: (dims, tensor) => paletteProblem(dims, tensor),
      decode: (tensor, dims) => {
        const { minBytes, maxBytes } = paletteFormBounds(dims, tensor.axis);
        const inflated = inflateExactly(tensor.data, minBytes, maxBytes);
        if ('problem' in inflated) return badLength(inflated.problem);
        const values = fromBytePalette(inflated.bytes, dims, tensor.axis);
        return typeof values === 'string' ? badLength(values) : values;
      },
    },
    'f16-deflate': {
      bytesPerElement: 'measured',
      uncompressed: 'f16',
      tensorOverheadBytes: 0,
      verbatim: false,
      replyCodec: 'f16',
      encode: (name, values, dims, options) => {
        const f16 = base.f16.encode(name, values, dims, options);
        return { data: deflateBytes(splitBytePlanes(f16.data, 2), CUT_TENSOR_LEVEL) };
      },
      check: (_dims, tensor) => noParameters('f16-deflate', tensor),
      decode: (tensor, dims) => {
        const bytes = 2 * dims.reduce((a, b) => a * b, 1);
        const inflated = inflateExactly(tensor.data, bytes, bytes);
        if ('problem' in inflated) return badLength(inflated.problem);
        return base.f16.decode({ data: joinBytePlanes(inflated.bytes, 2) }, dims);
      },
    },
    'int8-deflate': {
      bytesPerElement: 'measured',
      uncompressed: 'int8',
      tensorOverheadBytes: base.int8.tensorOverheadBytes,
      verbatim: false,
      replyCodec: base.int8.replyCodec,
      encode: (name, values, dims, options) => {
        const int8 = base.int8.encode(name, values, dims, options);
        return { ...int8, data: deflateBytes(int8.data, CUT_TENSOR_LEVEL) };
      },
      check: (dims, tensor) => base.int8.check(dims, tensor),
      decode: (tensor, dims) => {
        const bytes = dims.reduce((a, b) => a * b, 1);
        const inflated = inflateExactly(tensor.data, bytes, bytes);
        if ('problem' in inflated) return badLength(inflated.problem);
        return base.int8.decode({ ...tensor, data: inflated.bytes }, dims);
      },
    },
  };
}

// f16 values in byte planes (every low byte, then every high byte): the high bytes (sign, exponent, top of the
// mantissa) repeat a lot across an activation and deflate well once they are not interleaved with the noisy low bytes.
function splitBytePlanes(bytes: Uint8Array, width: number): Uint8Array {
  const count = bytes.byteLength / width;
  const out = new Uint8Array(bytes.byteLength);
  for (let b = 0; b < width; b++) {
    const plane = b * count;
    for (let i = 0; i < count; i++) out[plane + i] = bytes[i * width + b]!;
  }
  return out;
}

function joinBytePlanes(planes: Uint8Array, width: number): Uint8Array {
  const count = planes.byteLength / width;
  const out = new Uint8Array(planes.byteLength);
  for (let b = 0; b < width; b++) {
    const plane = b * count;
    for (let i = 0; i < count; i++) out[i * width + b] = planes[plane + i]!;
  }
  return out;
}

function badLength(message: string): CodecProblem {
  return { code: ProtocolErrorCode.BadLength, message };
}

function noParameters(encoding: string, tensor: UncheckedCodecData): CodecProblem | undefined {
  if (tensor.scale === undefined && tensor.zeroPoint === undefined && tensor.axis === undefined) return undefined;
  return {
    code: ProtocolErrorCode.BadQuantization,
    message: `scale, zeroPoint and axis are not valid with encoding ${encoding}`,
  };
}

// u8-deflate carries only the channel axis, and it must be the one the encoder picks for these dims: that bounds the
// palettes to 4 channels, so the inflated size allowed stays about the element count.
function paletteProblem(dims: readonly number[], tensor: UncheckedCodecData): CodecProblem | undefined {
  if (tensor.scale !== undefined || tensor.zeroPoint !== undefined) {
    return { code: ProtocolErrorCode.BadQuantization, message: 'scale and zeroPoint are not valid with u8-deflate' };
  }
  const expected = paletteAxis(dims);
  if (tensor.axis === expected) return undefined;
  return {
    code: ProtocolErrorCode.BadQuantization,
    message: `u8-deflate axis ${showValue(tensor.axis)} must be ${expected === undefined ? 'absent' : expected} for dims [${dims.join(', ')}]`,
  };
}
