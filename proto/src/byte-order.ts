// Tensor bytes on the wire are little-endian, like every common CPU and ONNX's raw_data. Typed arrays use the
// host's byte order, so on a big-endian host each element is swapped on the way in and out.
import type { DtypeArray, TypedArrayConstructor } from './dtypes.js';

/** True when the host stores multi-byte numbers little-endian (x86, ARM in its usual mode). */
export const HOST_IS_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Little-endian bytes of `array`. On a little-endian host this is a view on the same memory (no copy),
 * so the caller must not change `array` while the bytes are in use.
 */
export function toLittleEndianBytes(array: DtypeArray, hostIsLittleEndian = HOST_IS_LITTLE_ENDIAN): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (hostIsLittleEndian || array.BYTES_PER_ELEMENT === 1) return bytes;
  return swapped(bytes, array.BYTES_PER_ELEMENT);
}

/**
 * Elements of type `ctor` read from little-endian `bytes`. When the host is little-endian and `bytes` sits at an
 * offset aligned to the element size, the result is a view on the same memory (zero-copy); otherwise a copy.
 */
export function fromLittleEndianBytes<T extends DtypeArray>(
  ctor: TypedArrayConstructor<T>,
  bytes: Uint8Array,
  hostIsLittleEndian = HOST_IS_LITTLE_ENDIAN,
): T {
  const width = ctor.BYTES_PER_ELEMENT;
  const length = bytes.byteLength / width;
  if (!Number.isInteger(length)) {
    throw new RangeError(`"bytes" length ${bytes.byteLength} is not a multiple of the element size ${width}`);
  }
  if (hostIsLittleEndian || width === 1) {
    if (bytes.byteOffset % width === 0) return new ctor(bytes.buffer, bytes.byteOffset, length);
    const copy = new ctor(length);
    new Uint8Array(copy.buffer).set(bytes);
    return copy;
  }
  const copy = new ctor(length);
  new Uint8Array(copy.buffer).set(swapped(bytes, width));
  return copy;
}

function swapped(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j] ?? 0;
  }
  return out;
}
