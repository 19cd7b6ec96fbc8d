// The one table of element types: what each is called in specs and on the wire, how wide it is, which typed array
// holds it and how it travels. Every package reads this table instead of keeping its own switch.
import { z } from 'zod';

/**
 * Element types a wire tensor can carry, in the order error messages list them. float32 travels in one of the float
 * codecs (f32, f16, int8); the integer types and bool (token ids, attention masks, class ids) travel raw.
 */
export const TENSOR_DTYPES = ['float32', 'int64', 'int32', 'uint8', 'bool'] as const;
/** One of {@link TENSOR_DTYPES}. */
export type TensorDtype = (typeof TENSOR_DTYPES)[number];
/** zod schema of a wire dtype. */
export const TensorDtypeSchema = z.enum(TENSOR_DTYPES);

/** The dtype the float codecs compress; every other wire dtype travels raw. */
export const FLOAT_DTYPE = 'float32' satisfies TensorDtype;
/** Wire dtypes that travel raw (little-endian elements, uncompressed). */
export type RawDtype = Exclude<TensorDtype, typeof FLOAT_DTYPE>;

/**
 * ONNX element types Cleave names in specs and manifests: the wire dtypes plus the ones a model may use inside (a
 * cut or an input of these types is reported, never sent).
 */
export const ELEMENT_TYPES = [...TENSOR_DTYPES, 'float16', 'float64', 'int16', 'int8'] as const;
/** One of {@link ELEMENT_TYPES}. */
export type ElementType = (typeof ELEMENT_TYPES)[number];

/**
 * The typed array holding each wire dtype's elements. A type, not a table: {@link DTYPE_SPECS} holds the
 * constructors, and a wire dtype missing here fails to compile there. bool shares uint8's array (one byte per
 * element, 0 or 1, as onnxruntime takes and returns it), so a bool tensor always carries its dtype beside its data:
 * the array alone cannot tell the two apart.
 */
export interface DtypeArrays {
  float32: Float32Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
/** The typed array of `D` (any wire dtype's when `D` is left out). */
export type DtypeArray<D extends TensorDtype = TensorDtype> = DtypeArrays[D];

/** A typed-array constructor, as byte-order conversion and allocation use it. */
export interface TypedArrayConstructor<T extends DtypeArray> {
  new (length: number): T;
  /** Throws RangeError when the buffer is not a whole number of elements. */
  new (buffer: ArrayBufferLike): T;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** What every element type has. */
export interface ElementTypeSpec {
  /** Bytes per element in memory and, for raw travel, on the wire. */
  readonly bytes: number;
  /** onnx.TensorProto.DataType number. */
  readonly onnxElemType: number;
}

/** What a wire dtype adds. */
export interface TensorDtypeSpec<D extends TensorDtype> extends ElementTypeSpec {
  readonly array: TypedArrayConstructor<DtypeArrays[D]>;
  /** True when the elements travel as they are (encoding `raw`); false for float32, which travels in a codec. */
  readonly travelsRaw: boolean;
}

/** Spec of each element type; the wire dtypes carry their typed array and how they travel. */
export const DTYPE_SPECS: {
  readonly [T in ElementType]: T extends TensorDtype ? TensorDtypeSpec<T> : ElementTypeSpec;
} = Object.freeze({
  float32: { bytes: 4, onnxElemType: 1, array: Float32Array, travelsRaw: false },
  int64: { bytes: 8, onnxElemType: 7, array: BigInt64Array, travelsRaw: true },
  int32: { bytes: 4, onnxElemType: 6, array: Int32Array, travelsRaw: true },
  uint8: { bytes: 1, onnxElemType: 2, array: Uint8Array, travelsRaw: true },
  bool: { bytes: 1, onnxElemType: 9, array: Uint8Array, travelsRaw: true },
  float16: { bytes: 2, onnxElemType: 10 },
  float64: { bytes: 8, onnxElemType: 11 },
  int16: { bytes: 2, onnxElemType: 5 },
  int8: { bytes: 1, onnxElemType: 3 },
});

/** Wire dtypes that travel raw, in {@link TENSOR_DTYPES} order. */
export const RAW_DTYPES: readonly RawDtype[] = Object.freeze(
  TENSOR_DTYPES.filter((d): d is RawDtype => DTYPE_SPECS[d].travelsRaw),
);

/** True when `value` names a wire dtype. */
export function isTensorDtype(value: unknown): value is TensorDtype {
  return (TENSOR_DTYPES as readonly unknown[]).includes(value);
}

/** True when `value` names an element type Cleave knows. */
export function isElementType(value: unknown): value is ElementType {
  return (ELEMENT_TYPES as readonly unknown[]).includes(value);
}

/** Bytes per element of a named element type, or undefined for one Cleave does not know. */
export function elementTypeBytes(name: string): number | undefined {
  return isElementType(name) ? DTYPE_SPECS[name].bytes : undefined;
}

/** The element type of an onnx.TensorProto.DataType number, or undefined for one Cleave does not name. */
export function elementTypeOfOnnx(onnxElemType: number): ElementType | undefined {
  return ELEMENT_TYPES.find((name) => DTYPE_SPECS[name].onnxElemType === onnxElemType);
}

/**
 * The wire dtype whose typed array `data` is, or undefined for any other value. A Uint8Array reads as uint8: a bool
 * tensor must name its dtype (see {@link DtypeArrays}).
 */
export function dtypeOfArray(data: unknown): TensorDtype | undefined {
  return TENSOR_DTYPES.find((d) => data instanceof DTYPE_SPECS[d].array);
}

/**
 * An array of `dtype` holding `numbers`, stored as the typed array's own `from` would: rounded to float32, or
 * wrapped to the integer's width (int64 through BigInt, so the numbers must be integers; bigints are kept exact).
 * bool stores 1 for every non-zero value.
 */
export function arrayFromNumbers(dtype: TensorDtype, numbers: readonly (number | bigint)[]): DtypeArray {
  const out = allocateArray(dtype, numbers.length);
  if (out instanceof BigInt64Array) numbers.forEach((x, i) => (out[i] = BigInt.asIntN(64, BigInt(x))));
  else if (dtype === 'bool') numbers.forEach((x, i) => (out[i] = Number(x) !== 0 ? 1 : 0));
  else numbers.forEach((x, i) => (out[i] = Number(x)));
  return out;
}

/** A zero-filled array of `count` elements of `dtype`. */
export function allocateArray<D extends TensorDtype>(dtype: D, count: number): DtypeArrays[D] {
  // Indexing the table with a generic dtype loses the pairing TypeScript cannot follow; the table's type keeps it.
  const ctor = DTYPE_SPECS[dtype].array as TypedArrayConstructor<DtypeArrays[D]>;
  return new ctor(count);
}

/**
 * Index of the first NaN or ±Infinity in `values`, or -1. Every float tensor that enters the agent or a replica
 * goes through this, so the common case (all finite) is one pass of four independent sums of x × 0, which stay 0
 * unless some x is NaN or ±Infinity (x × 0 is then NaN): 0.04 ms per 150k elements on the project's CPU, against
 * 0.1 ms for a compare-per-element loop and 1 ms for `findIndex` with a callback. On a device throttled to a tenth
 * of a core every such millisecond is ten.
 */
export function firstNonFinite(values: Float32Array): number {
  const n = values.length;
  const whole = n - (n % 4);
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  for (let i = 0; i < whole; i += 4) {
    a += values[i]! * 0;
    b += values[i + 1]! * 0;
    c += values[i + 2]! * 0;
    d += values[i + 3]! * 0;
  }
  for (let i = whole; i < n; i++) a += values[i]! * 0;
  if (a + b + c + d === 0) return -1;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    // x − x is 0 for every finite x, and NaN for NaN and ±Infinity.
    if (x - x !== 0) return i;
  }
  return -1;
}
