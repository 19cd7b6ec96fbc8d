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
