import { CodedError, codedErrorGuard } from './coded-error.js';

/** Machine-readable reasons that bytes, a message, a tensor, a subject or a manifest were rejected. */
export const ProtocolErrorCode = {
  /** The bytes are not a msgpack value at all (random, truncated, trailing garbage). */
  Malformed: 'malformed',
  /** The message speaks another protocol version (`v`). */
  UnsupportedVersion: 'unsupported_version',
  /** A tensor's logical dtype is unknown. */
  BadDtype: 'bad_dtype',
  /** A tensor's dims are not a list of at most 8 non-negative safe integers. */
  BadDims: 'bad_dims',
  /** A tensor or message exceeds a decode limit. */
  TooLarge: 'too_large',
  /** A tensor's encoding is unknown or does not fit its dtype. */
  BadEncoding: 'bad_encoding',
  /** A tensor's byte length disagrees with its dims and encoding. */
  BadLength: 'bad_length',
  /** An int8 tensor's scale, zero point or axis is missing or out of range (or set on a non-int8 tensor). */
  BadQuantization: 'bad_quantization',
  /** The value decodes but does not match the message or manifest schema. */
  BadMessage: 'bad_message',
  /** A subject token (model, version, split, agent id, prefix) or a subject is invalid. */
  BadToken: 'bad_token',
} as const;
/** One of {@link ProtocolErrorCode}. */
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Options of a {@link ProtocolError}: the usual `cause`, plus the individual problems when there are several. */
export interface ProtocolErrorOptions extends ErrorOptions {
  /** One line per problem (`path: message`), for callers that print them as a list. */
  readonly issues?: readonly string[];
}

/** Input that breaks the wire contract. The message names the offending tensor, token or field. */
export class ProtocolError extends CodedError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError';
  /** One line per problem when the error gathers several (schema validation); otherwise empty. */
  readonly issues: readonly string[];
  constructor(code: ProtocolErrorCode, message: string, options?: ProtocolErrorOptions) {
    super(code, message, options);
    this.issues = options?.issues ?? [];
  }
}

/**
 * True for a {@link ProtocolError} (optionally with the given code), also one thrown by another copy of this
 * package: an Error named `ProtocolError` with a known code.
 */
export const isProtocolError = codedErrorGuard(ProtocolError, { name: 'ProtocolError', codes: ProtocolErrorCode });
