// NumPy .npy arrays and .npz archives (zip files of .npy members, stored or deflated), as numpy.save / savez
// write them. Little-endian, C order; the element types calibration needs.
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { DatasetError, DatasetErrorCode } from './idx-reader.js';

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Element types read from .npy files, by their numpy `descr` (without byte-order character). */
const NPY_TYPES = {
  f4: 'float32',
  f8: 'float64',
  u1: 'uint8',
  i1: 'int8',
  u2: 'uint16',
  i2: 'int16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  b1: 'bool',
} as const;

/** Element type of a decoded .npy array. */
export type NpyDType = (typeof NPY_TYPES)[keyof typeof NPY_TYPES];

/** A decoded .npy array; int64 values are converted to numbers (calibration labels are small). */
export interface NpyArray {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  readonly data:
    Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Int32Array | Uint32Array;
}

function fail(code: DatasetErrorCode, source: string, message: string): never {
  throw new DatasetError(code, `${source}: ${message}`);
}

/** Copies `count` elements of `bytes` at `offset` into a typed array of `dtype` (little-endian). */
function decodeData(
  bytes: Uint8Array,
  offset: number,
  count: number,
  dtype: NpyDType,
  source: string,
): NpyArray['data'] {
  const size = {
    float32: 4,
    float64: 8,
    uint8: 1,
    int8: 1,
    uint16: 2,
    int16: 2,
    int32: 4,
    uint32: 4,
    int64: 8,
    bool: 1,
  }[dtype];
  const need = offset + count * size;
  if (bytes.length < need) {
    fail(
      DatasetErrorCode.Truncated,
      source,
      `truncated: the header promises ${count * size} data bytes, the file has ${bytes.length - offset}`,
    );
  }
  if (bytes.length > need)
    fail(DatasetErrorCode.Corrupt, source, `${bytes.length - need} unexpected trailing bytes after the array`);
  // A copy, so the typed array is aligned whatever the header length.
  // (Buffer#slice would be a view.)
  const copy = new Uint8Array(need - offset);
  copy.set(bytes.subarray(offset, need));
  const buf = copy.buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf);
    case 'int8':
      return new Int8Array(buf);
    case 'uint16':
      return new Uint16Array(buf);
    case 'int16':
      return new Int16Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'uint32':
      return new Uint32Array(buf);
    case 'int64': {
      const wide = new BigInt64Array(buf);
      return Float64Array.from(wide, (v) => Number(v));
    }
  }
}

/**
 * Parses the bytes of a .npy file (format versions 1–3). `source` names the file in messages. Throws
 * {@link DatasetError} for a bad magic, Fortran order, big-endian or unsupported dtypes, and truncation.
 */
export function parseNpy(bytes: Uint8Array, source = '<buffer>'): NpyArray {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(DatasetErrorCode.BadMagic, source, 'not a .npy file (no \\x93NUMPY magic)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart + headerLength) fail(DatasetErrorCode.Truncated, source, 'header truncated');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(DatasetErrorCode.Corrupt, source, `unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True') {
    fail(
      DatasetErrorCode.Unsupported,
      source,
      'the array is in Fortran order; save it in C order (numpy.ascontiguousarray)',
    );
  }
  const order = descr[0];
  const code = descr.slice(1) as keyof typeof NPY_TYPES;
  const dtype = NPY_TYPES[code] as NpyDType | undefined;
  const oneByte = code === 'u1' || code === 'i1' || code === 'b1';
  // '=' is the writer's native order: little-endian on every host Cleave runs on.
  const littleEndian = order === '<' || order === '|' || order === '=' || (order === '>' && oneByte);
  if (dtype === undefined || !littleEndian) {
    fail(
      DatasetErrorCode.Unsupported,
      source,
      `unsupported dtype '${descr}': calibration reads little-endian float32, float64, uint8 inputs and integer labels`,
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0))
    fail(DatasetErrorCode.Corrupt, source, `bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, data: decodeData(bytes, headerStart + headerLength, count, dtype, source) };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new DatasetError(DatasetErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** Reads and parses a .npy file; see {@link parseNpy}. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  return parseNpy(await readBytes(path), path);
}

/** Reads every array of a .npz archive, by name without the `.npy` suffix. */
export async function readNpzFile(path: string): Promise<Map<string, NpyArray>> {
  const bytes = await readBytes(path);
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (err) {
    throw new DatasetError(
      DatasetErrorCode.Corrupt,
      `${path}: not a readable .npz (zip) archive (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
  const arrays = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(members)) {
    if (!name.endsWith('.npy')) continue;
    arrays.set(name.slice(0, -4), parseNpy(data, `${path}:${name}`));
  }
  return arrays;
}
