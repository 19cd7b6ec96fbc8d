import { describe, expect, it } from 'vitest';
import {
  CODEC_SPECS,
  CODECS,
  CodecSchema,
  DEFAULT_PLAN_CODECS,
  estimateTensorBytes,
  LOSSLESS_CODEC,
  parseCodecList,
  perCodecSchema,
  RAW_ENCODING,
  TENSOR_ENCODINGS,
  tensorWireBytes,
} from '../src/codecs.js';
import {
  DTYPE_SPECS,
  dtypeOfArray,
  ELEMENT_TYPES,
  elementTypeBytes,
  elementTypeOfOnnx,
  RAW_DTYPES,
  TENSOR_DTYPES,
} from '../src/dtypes.js';
import { decodeAnyTensor, decodeTensor, encodeAnyTensor, encodeTensor } from '../src/tensor-codec.js';
import { elementBytes, encodingsFor } from '../src/tensor-validation.js';

describe('codec registry', () => {
  it('has exactly one spec per codec; raw stands apart from them', () => {
    expect(Object.keys(CODEC_SPECS).sort()).toEqual([...CODECS].sort());
    expect(TENSOR_ENCODINGS).toEqual([...CODECS, RAW_ENCODING]);
    expect(CODECS).not.toContain(RAW_ENCODING);
    expect(CODECS).toContain(LOSSLESS_CODEC);
    expect(DEFAULT_PLAN_CODECS.every((c) => CODECS.includes(c))).toBe(true);
  });

  const FIXED = CODECS.filter((c) => CODEC_SPECS[c].bytesPerElement !== 'measured');
  it.each(FIXED)('%s: encodes to its wire size, passes validation and decodes back', (codec) => {
    const values = Float32Array.from({ length: 24 }, (_, i) => (i - 12) / 4);
    const encoded = encodeTensor('x', values, [2, 3, 4], codec);
    const width = CODEC_SPECS[codec].bytesPerElement;
    expect(encoded.data.byteLength).toBe(tensorWireBytes(values.length, codec));
    expect(encoded.data.byteLength).toBe(typeof width === 'number' ? values.length * width : encoded.data.byteLength);
    expect(estimateTensorBytes(codec, values.length)).toBe(
      encoded.data.byteLength + CODEC_SPECS[codec].tensorOverheadBytes,
    );
    expect(elementBytes('float32', codec)).toBe(width);
    const decoded = decodeTensor(encoded);
    // f32 and f16 hold quarter steps exactly; int8 is within scale / 2, with scale = range / 255.
    const bound = codec === 'int8' ? 5.75 / 255 / 2 + 1e-6 : 0;
    decoded.data.forEach((v, i) => expect(Math.abs(v - values[i]!)).toBeLessThanOrEqual(bound));
  });

  it('replies in f32 to f32 and in f16 to f16 and int8, and only f32 is verbatim', () => {
    expect(Object.fromEntries(CODECS.map((c) => [c, CODEC_SPECS[c].replyCodec]))).toEqual({
      f32: 'f32',
      f16: 'f16',
      int8: 'f16',
      'u8-deflate': 'f32',
      'f16-deflate': 'f16',
      'int8-deflate': 'f16',
    });
    expect(CODECS.filter((c) => CODEC_SPECS[c].verbatim)).toEqual([LOSSLESS_CODEC]);
  });

  it('parses codec lists and builds per-codec schemas from the one list', () => {
    expect(parseCodecList('f32, int8')).toEqual(['f32', 'int8']);
    expect(parseCodecList('f32,bf16')).toBeUndefined();
    expect(parseCodecList('')).toBeUndefined();
    expect(CodecSchema.safeParse('raw').success).toBe(false);
    const schema = perCodecSchema(CodecSchema);
    const full = Object.fromEntries(CODECS.map((c) => [c, c]));
    expect(schema.parse(full)).toEqual(full);
    // A table from before the compressed codecs reads them as their uncompressed codec's value.
    expect(schema.parse({ f32: 'f32', f16: 'f16', int8: 'int8' })).toMatchObject({
      'u8-deflate': 'f32',
      'f16-deflate': 'f16',
      'int8-deflate': 'int8',
    });
    expect(schema.safeParse({ f32: 'f32', f16: 'f16' }).success).toBe(false);
  });
});

describe('dtype registry', () => {
  it('describes every element type, and each wire dtype with its typed array', () => {
    expect(Object.keys(DTYPE_SPECS).sort()).toEqual([...ELEMENT_TYPES].sort());
    for (const dtype of TENSOR_DTYPES) {
      const spec = DTYPE_SPECS[dtype];
      expect(spec.array.BYTES_PER_ELEMENT, dtype).toBe(spec.bytes);
      // bool shares uint8's array, so an array alone reads as uint8.
      expect(dtypeOfArray(new spec.array(1)), dtype).toBe(dtype === 'bool' ? 'uint8' : dtype);
      expect(encodingsFor(dtype), dtype).toEqual(spec.travelsRaw ? [RAW_ENCODING] : CODECS);
    }
    expect(RAW_DTYPES).toEqual(['int64', 'int32', 'uint8', 'bool']);
    expect(dtypeOfArray(new Float64Array(1))).toBeUndefined();
  });

  it('maps ONNX element type numbers both ways and sizes names it knows', () => {
    for (const name of ELEMENT_TYPES) expect(elementTypeOfOnnx(DTYPE_SPECS[name].onnxElemType)).toBe(name);
    expect(new Set(ELEMENT_TYPES.map((n) => DTYPE_SPECS[n].onnxElemType)).size).toBe(ELEMENT_TYPES.length);
    expect(elementTypeOfOnnx(8)).toBeUndefined(); // string
    expect(elementTypeBytes('float16')).toBe(2);
    expect(elementTypeBytes('complex64')).toBeUndefined();
  });

  it('encodes any wire dtype by its array: floats in the codec, integers raw', () => {
    const ids = encodeAnyTensor('ids', BigInt64Array.of(1n, -2n), [2], 'int8');
    expect(ids).toMatchObject({ dtype: 'int64', encoding: 'raw' });
    expect(Array.from(decodeAnyTensor(ids).data as BigInt64Array)).toEqual([1n, -2n]);
    expect(encodeAnyTensor('x', Float32Array.of(1), [1], 'f16')).toMatchObject({ dtype: 'float32', encoding: 'f16' });
  });

  it('keeps bool apart from uint8 when the dtype is named, and refuses a dtype the array cannot hold', () => {
    const mask = encodeAnyTensor('mask', Uint8Array.of(1, 0, 1), [3], 'f16', 'bool');
    expect(mask).toMatchObject({ dtype: 'bool', encoding: 'raw' });
    expect(decodeAnyTensor(mask)).toEqual({ name: 'mask', dtype: 'bool', dims: [3], data: Uint8Array.of(1, 0, 1) });
    expect(encodeAnyTensor('b', Uint8Array.of(7), [1], 'f32')).toMatchObject({ dtype: 'uint8' });
    expect(() => encodeAnyTensor('ids', Int32Array.of(1), [1], 'f32', 'int64')).toThrow(
      new TypeError('"data" of int64 tensor "ids" must be a BigInt64Array'),
    );
    expect(() => encodeAnyTensor('x', BigInt64Array.of(1n), [1], 'f32', 'float32')).toThrow(TypeError);
  });
});
