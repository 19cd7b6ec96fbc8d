// Messages travel as one msgpack map each. Record structures are off (`useRecords: false`): queue-group replicas
// share no decoder state, so every message must decode alone. `moreTypes` is off so that tensor bytes stay a plain
// msgpack bin and any msgpack implementation can read the contract.
import { type Options, Packr, Unpackr } from 'msgpackr';
import { type DecodeLimits, type ResolvedDecodeLimits, resolveDecodeLimits } from './decode-limits.js';
import { type Message, type MessageKind, type MessageOfKind, MessageSchema } from './messages.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import { PROTOCOL_VERSION } from './protocol-version.js';
import { formatIssue } from './schema-issues.js';
import { validateEncodedTensor } from './tensor-validation.js';

// `skipValues` (drop undefined optional fields instead of writing msgpack's undefined extension) is missing from
// msgpackr's typings, hence the untyped options object.
const packOptions = { useRecords: false, moreTypes: false, skipValues: [undefined] };
const packr = new Packr(packOptions satisfies Options & { skipValues: unknown[] });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** Most schema problems spelled out in an error message; `issues` on the error holds all of them. */
const MAX_ISSUES_IN_MESSAGE = 8;

/**
 * Encodes a message to msgpack. Throws TypeError when `message` breaks the contract (a programmer error on the
 * sending side), with the ProtocolError as `cause`. The result may share memory with msgpackr's output buffer,
 * which is never reused for another message.
 */
export function encodeMessage(message: Message, limits?: DecodeLimits): Uint8Array {
  let checked: Message;
  try {
    checked = checkMessage(message, resolveDecodeLimits(limits));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new TypeError(`"message" cannot be encoded: ${error.message}`, { cause: error });
  }
  const packed = packr.pack(checked);
  // On Node msgpackr returns a Buffer, whose slice() shares memory where Uint8Array's copies: hand out a plain view.
  return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
}

/**
 * Decodes and validates one message from untrusted bytes. Tensor data in the result are views on `bytes` (no copy),
 * so keep `bytes` unchanged while the message is in use. Throws only ProtocolError for bad bytes: `malformed`
 * (not msgpack), `unsupported_version`, `bad_message` (schema) or a tensor-specific code.
 */
export function decodeMessage(bytes: Uint8Array, limits?: DecodeLimits): Message {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" must be a Uint8Array');
  const resolved = resolveDecodeLimits(limits);
  let value: unknown;
  try {
    if (bytes.byteLength === 0) throw new ProtocolError(ProtocolErrorCode.Malformed, 'message is empty');
    // A plain view (no copy) so that tensor data come back as Uint8Array, not Buffer, whatever the caller passed.
    const view =
      bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    value = unpackr.unpack(view) as unknown;
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(ProtocolErrorCode.Malformed, `message is not valid msgpack: ${reason(error)}`, {
      cause: error,
    });
  }
  try {
    return checkMessage(value, resolved);
  } catch (error) {
    // Validation of odd decoded values (deep nesting, exotic extension types) must not escape as anything else.
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(ProtocolErrorCode.BadMessage, `message could not be validated: ${reason(error)}`, {
      cause: error,
    });
  }
}

/** Decodes a message and checks it is one of `kinds` (ProtocolError `bad_message` otherwise). */
export function decodeMessageOfKind<K extends MessageKind>(
  bytes: Uint8Array,
  kinds: readonly K[],
  limits?: DecodeLimits,
): MessageOfKind<K> {
  const message = decodeMessage(bytes, limits);
  if (!(kinds as readonly string[]).includes(message.kind)) {
    throw new ProtocolError(
      ProtocolErrorCode.BadMessage,
      `expected a message of kind ${kinds.join(' or ')}, got ${message.kind}`,
    );
  }
  return message as MessageOfKind<K>;
}

function checkMessage(value: unknown, limits: ResolvedDecodeLimits): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError(ProtocolErrorCode.BadMessage, `message must be a msgpack map, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  if (record.v !== PROTOCOL_VERSION) {
    if (typeof record.v === 'number') {
      throw new ProtocolError(
        ProtocolErrorCode.UnsupportedVersion,
        `message has protocol version ${record.v}; this build speaks version ${PROTOCOL_VERSION}`,
      );
    }
    throw new ProtocolError(ProtocolErrorCode.BadMessage, 'message has no numeric protocol version "v"');
  }
  // Tensors first, so that their problems get specific codes (bad_dims, too_large...) rather than bad_message.
  const tensors = record.kind === 'infer' ? record.tensors : record.kind === 'infer_reply' ? record.outputs : undefined;
  if (Array.isArray(tensors)) {
    if (tensors.length > limits.maxTensors) {
      throw new ProtocolError(
        ProtocolErrorCode.TooLarge,
        `message carries ${tensors.length} tensors; the limit is ${limits.maxTensors}`,
      );
    }
    for (const tensor of tensors) validateEncodedTensor(tensor, limits);
  }
  const parsed = MessageSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(formatIssue);
    const kind = typeof record.kind === 'string' ? JSON.stringify(record.kind.slice(0, 40)) : 'unknown';
    const shown = issues.slice(0, MAX_ISSUES_IN_MESSAGE).join('; ');
    const more = issues.length > MAX_ISSUES_IN_MESSAGE ? ` (and ${issues.length - MAX_ISSUES_IN_MESSAGE} more)` : '';
    throw new ProtocolError(ProtocolErrorCode.BadMessage, `invalid message of kind ${kind}: ${shown}${more}`, {
      issues,
    });
  }
  return parsed.data;
}

function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function describe(value: unknown): string {
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary';
  return typeof value;
}
