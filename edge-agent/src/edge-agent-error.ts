import { CodedError, codedErrorGuard } from '@cleave/proto';

/** Why the edge agent refused or failed a local request. Each code maps to one HTTP status. */
export const EdgeErrorCode = {
  /** The body is not valid JSON or msgpack, or does not have the request's structure. */
  BadBody: 'bad_body',
  /** Input names do not match the model's inputs (missing, extra or duplicated). */
  BadInput: 'bad_input',
  /** An input's dims do not fit the model's shape, or its data length does not match its dims. */
  BadShape: 'bad_shape',
  /** An input's element type is not the model's, or its values are not numbers. */
  BadDtype: 'bad_dtype',
  /** The body or a tensor is larger than the configured limits. */
  TooLarge: 'too_large',
  /** The agent does not serve this model. */
  UnknownModel: 'unknown_model',
  /** The model is configured but no bundle is loaded yet. */
  NotReady: 'not_ready',
  /** The agent is shutting down and takes no new requests. */
  Draining: 'draining',
  /** A bug or a runtime failure inside the agent. */
  Internal: 'internal',
} as const;
/** One of {@link EdgeErrorCode}. */
export type EdgeErrorCode = (typeof EdgeErrorCode)[keyof typeof EdgeErrorCode];

/** HTTP status of each {@link EdgeErrorCode}; the NATS API carries the same number in its error body. */
export const EDGE_ERROR_STATUS: Readonly<Record<EdgeErrorCode, number>> = Object.freeze({
  bad_body: 400,
  bad_input: 400,
  bad_shape: 400,
  bad_dtype: 400,
  too_large: 413,
  unknown_model: 404,
  not_ready: 503,
  draining: 503,
  internal: 500,
});

/** A request the agent answers with an error instead of outputs. The message is safe to show to the caller. */
export class EdgeAgentError extends CodedError<EdgeErrorCode> {
  override readonly name = 'EdgeAgentError';

  /** The HTTP status for this error's code. */
  get status(): number {
    return EDGE_ERROR_STATUS[this.code];
  }
}

/** True for an {@link EdgeAgentError}, optionally with the given code. */
export const isEdgeAgentError = codedErrorGuard(EdgeAgentError);
