import { isProtocolError, ProtocolErrorCode } from './protocol-error.js';

/**
 * Error codes that cross the wire in an `error` reply. The edge agent picks its reaction from the code;
 * the message is for humans and logs only.
 */
export const WireErrorCode = {
  /** The request breaks the contract (bad tensor, bad message). Retrying the same bytes cannot help. */
  BadRequest: 'bad_request',
  /** No tail is deployed for this model. Run locally. */
  UnknownModel: 'unknown_model',
  /**
   * The cloud has no tail for this (model, version, split): the head and tail bundles differ. Do not retry:
   * run the tail locally and fetch the current bundle, so a head never meets a tail of another version.
   */
  VersionMismatch: 'version_mismatch',
  /** The replica's queue is full (back-pressure). Back off and retry, or run locally. */
  Overloaded: 'overloaded',
  /** The request's deadline passed before the tail finished. Retry only with a fresh deadline. */
  DeadlineExceeded: 'deadline_exceeded',
  /** The tail exists but cannot run now (loading, draining). Retry shortly, possibly on another replica. */
  Unavailable: 'unavailable',
  /** A bug or runtime failure on the cloud side. Retry once, then run locally. */
  Internal: 'internal',
  /**
   * The tail ran, but its reply is larger than the largest message the cloud's NATS connection may send
   * (max_payload): a plan problem (outputs too big for this split, codec or batch), not a cloud failure. Do not
   * retry the same request: run the tail locally, and send smaller batches or a codec with smaller replies.
   */
  ReplyTooLarge: 'reply_too_large',
  /**
   * The request is larger than the replica takes: a tensor or the request over an element limit, or inputs whose
   * decoded size passes the replica's in-flight bound. Refused before decoding. Do not retry the same request: run
   * the tail locally, or send smaller batches.
   */
  TooLarge: 'too_large',
} as const;
/** One of {@link WireErrorCode}. */
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** Whether a retry of the same request may succeed, per code. The agent still falls back locally when out of time. */
export const WIRE_ERROR_RETRYABLE: Readonly<Record<WireErrorCode, boolean>> = Object.freeze({
  bad_request: false,
  unknown_model: false,
  version_mismatch: false,
  overloaded: true,
  deadline_exceeded: true,
  unavailable: true,
  internal: true,
  reply_too_large: false,
  too_large: false,
});

/** Longest message a {@link wireError} keeps, so an error reply stays small whatever the cause. */
export const MAX_WIRE_ERROR_MESSAGE_LENGTH = 1024;

/** An error as data, the shape every error reply carries. */
export interface WireError {
  readonly code: WireErrorCode;
  readonly message: string;
  readonly retryable: boolean;
}

const WIRE_ERROR_CODES: ReadonlySet<string> = new Set(Object.values(WireErrorCode));

/** True when `value` is one of the known {@link WireErrorCode}s. */
export function isWireErrorCode(value: unknown): value is WireErrorCode {
  return typeof value === 'string' && WIRE_ERROR_CODES.has(value);
}

/** Builds a {@link WireError}; `retryable` follows the code and long messages are cut. */
export function wireError(code: WireErrorCode, message: string): WireError {
  if (!isWireErrorCode(code)) throw new TypeError(`"code" must be a wire error code, got ${JSON.stringify(code)}`);
  if (typeof message !== 'string') throw new TypeError('"message" must be a string');
  const text =
    message.length > MAX_WIRE_ERROR_MESSAGE_LENGTH
      ? `${message.slice(0, MAX_WIRE_ERROR_MESSAGE_LENGTH - 1)}…`
      : message;
  return { code, message: text, retryable: WIRE_ERROR_RETRYABLE[code] };
}

/**
 * Maps anything thrown while serving a request to a {@link WireError}: a protocol version clash becomes
 * `version_mismatch`, a decode limit `too_large`, any other {@link ProtocolError} `bad_request`, anything else
 * `internal`.
 */
export function toWireError(error: unknown): WireError {
  if (isProtocolError(error)) {
    const code =
      error.code === ProtocolErrorCode.UnsupportedVersion
        ? WireErrorCode.VersionMismatch
        : error.code === ProtocolErrorCode.TooLarge
          ? WireErrorCode.TooLarge
          : WireErrorCode.BadRequest;
    return wireError(code, error.message);
  }
  const message = error instanceof Error ? error.message : String(error);
  return wireError(WireErrorCode.Internal, message);
}
