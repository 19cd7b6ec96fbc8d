import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { CodedError } from '@cleave/proto';

/** Machine-readable reasons a dataset file is rejected. */
export const DatasetErrorCode = {
  BadMagic: 'bad_magic',
  Truncated: 'truncated',
  Corrupt: 'corrupt',
  Mismatch: 'mismatch',
  NotFound: 'not_found',
  /** A file format, dtype or array layout calibration does not read (Fortran order, big-endian, ...). */
  Unsupported: 'unsupported',
  /** A folder or array with no samples. */
  Empty: 'empty',
  /** Images whose channels cannot be converted to the model's. */
  Channels: 'channels',
  /** Labels outside the model's classes. */
  LabelRange: 'label_range',
  /** Samples that do not have the model input's shape after preprocessing. */
  Shape: 'shape_mismatch',
  /** A preprocessing option that does not apply, or has a bad value. */
  BadOption: 'bad_option',
} as const;
/** One of {@link DatasetErrorCode}. */
export type DatasetErrorCode = (typeof DatasetErrorCode)[keyof typeof DatasetErrorCode];

/** A dataset file that cannot be read as what it claims to be. The message names the file. */
export class DatasetError extends CodedError<DatasetErrorCode> {
  override readonly name = 'DatasetError';
}

/** Element types the IDX format defines, keyed by the type byte of the magic number. */
const IDX_TYPES = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
} as const;

/** Element type of an IDX array. */
export type IdxDType = (typeof IDX_TYPES)[keyof typeof IDX_TYPES]['name'];

/** A decoded IDX array: its element type, its shape, and its elements in row-major order. */
export interface IdxArray {
  readonly dtype: IdxDType;
  readonly dims: readonly number[];
  readonly data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1;
}

/** Multi-byte IDX elements are big-endian, so they are converted element by element. */
function decodeElements(view: DataView, offset: number, count: number, dtype: IdxDType): IdxArray['data'] {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, count * IDX_TYPES_BY_NAME[dtype]);
  switch (dtype) {
    case 'uint8':
      return bytes.slice();
    case 'int8':
      return new Int8Array(bytes.slice().buffer);
    case 'int16':
      return Int16Array.from({ length: count }, (_, i) => view.getInt16(offset + i * 2));
    case 'int32':
      return Int32Array.from({ length: count }, (_, i) => view.getInt32(offset + i * 4));
    case 'float32':
      return Float32Array.from({ length: count }, (_, i) => view.getFloat32(offset + i * 4));
    case 'float64':
      return Float64Array.from({ length: count }, (_, i) => view.getFloat64(offset + i * 8));
  }
}

const IDX_TYPES_BY_NAME: Record<IdxDType, number> = Object.fromEntries(
  Object.values(IDX_TYPES).map((t) => [t.name, t.size]),
) as Record<IdxDType, number>;

/**
 * Parses an IDX file's bytes (gzipped or not). `source` names the file in error messages.
 * Throws {@link DatasetError} for a wrong magic number, a truncated file or corrupt gzip data.
 */
export function parseIdx(raw: Uint8Array, source = '<buffer>'): IdxArray {
  let bytes = raw;
  if (isGzip(raw)) {
    try {
      bytes = gunzipSync(raw);
    } catch (err) {
      throw new DatasetError(
        DatasetErrorCode.Truncated,
        `${source}: gzip stream is truncated or corrupt (${(err as Error).message})`,
        { cause: err },
      );
    }
  }
  if (bytes.length < 4) {
    throw new DatasetError(
      DatasetErrorCode.Truncated,
      `${source}: file is ${bytes.length} bytes, too short for an IDX header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const typeByte = bytes[2] ?? 0;
  const type = IDX_TYPES[typeByte as keyof typeof IDX_TYPES] as (typeof IDX_TYPES)[keyof typeof IDX_TYPES] | undefined;
  const ndims = bytes[3] ?? 0;
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined || ndims === 0) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    throw new DatasetError(
      DatasetErrorCode.BadMagic,
      `${source}: not an IDX file (magic number 0x${magic}; expected 0x0000TTNN with a known type TT and NN >= 1 dimensions)`,
    );
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw new DatasetError(
      DatasetErrorCode.Truncated,
      `${source}: header truncated (${bytes.length} of ${headerLength} bytes)`,
    );
  }
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerLength + count * type.size;
  if (bytes.length < expected) {
    throw new DatasetError(
      DatasetErrorCode.Truncated,
      `${source}: truncated: dims [${dims.join(', ')}] need ${expected} bytes, file has ${bytes.length}`,
    );
  }
  if (bytes.length > expected) {
    throw new DatasetError(
      DatasetErrorCode.Corrupt,
      `${source}: ${bytes.length - expected} unexpected trailing bytes after dims [${dims.join(', ')}]`,
    );
  }
  return { dtype: type.name, dims, data: decodeElements(view, headerLength, count, type.name) };
}

/** Reads and parses an IDX file from disk; see {@link parseIdx}. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new DatasetError(DatasetErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseIdx(raw, path);
}
