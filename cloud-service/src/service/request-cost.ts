// What a tail request costs the replica, known before any tensor is decoded: the elements it carries and the bytes
// it holds until answered (its message, plus what decoding its tensors allocates). Requests are refused on this
// cost, not on their wire size, because an int8 element arrives as one byte and becomes a 4-byte float.
import { type EncodedTensor, WireErrorCode } from '@cleave/proto';
import { decodeCost } from '../tail/tensor-batch.js';
import { ServeError } from './serve-error.js';

/** The bounds a request's cost is checked against. */
export interface RequestCostLimits {
  /** Most elements across one request's tensors (every sample of its batch counted). */
  readonly maxElementsPerRequest: number;
  /** The replica's in-flight byte bound: a request costing more could never be admitted. */
  readonly maxInFlightBytes: number;
}

/**
 * The bytes a request holds while in the replica: `wireBytes` plus what decoding `tensors` allocates. Throws a
 * `too_large` ServeError when the request passes either limit, naming the limit and what to do instead.
 */
export function requestCost(tensors: readonly EncodedTensor[], wireBytes: number, limits: RequestCostLimits): number {
  const cost = decodeCost(tensors);
  if (cost.elements > limits.maxElementsPerRequest) {
    throw new ServeError(
      WireErrorCode.TooLarge,
      `the request carries ${cost.elements} elements, over the replica's limit of ${limits.maxElementsPerRequest} ` +
        `per request (limits.maxElementsPerRequest); send smaller batches or run the tail locally`,
    );
  }
  const bytes = wireBytes + cost.bytes;
  if (bytes > limits.maxInFlightBytes) {
    throw new ServeError(
      WireErrorCode.TooLarge,
      `the request holds ${bytes} bytes once decoded (${wireBytes} on the wire), over the replica's in-flight ` +
        `bound of ${limits.maxInFlightBytes} bytes (limits.maxInFlightBytes); send smaller batches or run the ` +
        `tail locally`,
    );
  }
  return bytes;
}
