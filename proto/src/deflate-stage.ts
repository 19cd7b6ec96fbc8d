// The entropy stage of the compressed codecs: raw DEFLATE (RFC 1951) via fflate, which is pure JavaScript and so keeps
// proto isomorphic. Inflating is bounded: the receiver knows from the tensor's dims exactly how many bytes the data
// must expand to, and stops as soon as the output passes that, so a deflate bomb costs at most one input chunk's
// worth of expansion (DEFLATE expands at most ~1032:1) beyond the declared size.
import { deflateSync, Inflate } from 'fflate';

/** A DEFLATE compression level: 1 is fastest, 9 smallest. */
export type DeflateLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

// Input is fed to the inflater in slices of this size so that one slice can expand to at most ~17 MB before the
// output size is checked again.
const INFLATE_SLICE_BYTES = 16 * 1024;

/** Raw DEFLATE of `bytes` at `level`. */
export function deflateBytes(bytes: Uint8Array, level: DeflateLevel): Uint8Array {
  return deflateSync(bytes, { level });
}

/** What {@link inflateExactly} found: the bytes, or why there are none. */
export type InflateResult = { readonly bytes: Uint8Array } | { readonly problem: string };

/**
 * Inflates raw DEFLATE `data` that must expand to between `minBytes` and `maxBytes` bytes. Stops early once the output
 * passes `maxBytes`; a stream that is corrupt, truncated or of the wrong length gives a problem, never an exception.
 */
export function inflateExactly(data: Uint8Array, minBytes: number, maxBytes: number): InflateResult {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    total += chunk.byteLength;
    if (total <= maxBytes) chunks.push(chunk);
    if (final) ended = true;
  });
  try {
    for (let at = 0; at < data.byteLength && total <= maxBytes; at += INFLATE_SLICE_BYTES) {
      const end = Math.min(at + INFLATE_SLICE_BYTES, data.byteLength);
      inflater.push(data.subarray(at, end), end === data.byteLength);
    }
  } catch (error) {
    return { problem: `data is not a valid deflate stream (${(error as Error).message})` };
  }
  if (total > maxBytes) return { problem: `data inflates to more than the ${maxBytes} bytes its dims allow` };
  if (!ended || total < minBytes) {
    return {
      problem: `data inflates to ${total} bytes but its dims need ${minBytes === maxBytes ? '' : 'at least '}${minBytes}`,
    };
  }
  if (chunks.length === 1) return { bytes: chunks[0]! };
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes };
}
