import { CodedError, isProtocolError, toWireError, type WireError, wireError, WireErrorCode } from '@cleave/proto';
import { TailInputError } from '../tail/tensor-batch.js';

/** A request that cannot be served, with the wire code its error reply carries. Never escapes the service. */
export class ServeError extends CodedError<WireErrorCode> {
  override readonly name = 'ServeError';
}

/** Maps anything thrown while serving a request to the error reply's data. */
export function toServeWireError(error: unknown): WireError {
  if (error instanceof ServeError || error instanceof TailInputError) return wireError(error.code, error.message);
  if (isProtocolError(error)) return toWireError(error);
  return wireError(WireErrorCode.Internal, `internal error: ${(error as Error)?.message ?? String(error)}`);
}

/**
 * The status each error reply carries in its `Nats-Service-Error-Code` header (HTTP-like, as the NATS micro-service
 * protocol asks), for NATS tools that read service errors. Cleave clients read the msgpack error body instead.
 */
export const SERVICE_ERROR_STATUS: Readonly<Record<WireErrorCode, number>> = Object.freeze({
  bad_request: 400,
  unknown_model: 404,
  version_mismatch: 409,
  too_large: 413,
  overloaded: 429,
  internal: 500,
  reply_too_large: 500,
  unavailable: 503,
  deadline_exceeded: 504,
});
