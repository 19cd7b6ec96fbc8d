// The local API's request and reply bodies, in JSON or msgpack. Both carry the same structure; msgpack may carry
// tensor data as little-endian element bytes (a bin), which avoids turning every float into text.
import { Packr, Unpackr } from 'msgpackr';
import { HOST_IS_LITTLE_ENDIAN } from '@cleave/proto';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import type { InferResult } from '../runtime/inference-pipeline.js';
import type { RequestTensor } from '../runtime/input-validation.js';
import type { AgentTensor } from '../runtime/tensor-io.js';

/** Body formats of the local API. */
export type BodyFormat = 'json' | 'msgpack';

/** Content type of msgpack bodies. */
export const MSGPACK_CONTENT_TYPE = 'application/msgpack';

/** A parsed request body. */
export interface InferBody {
  readonly inputs: Readonly<Record<string, RequestTensor>>;
  /** Deadline relative to arrival, in ms. */
  readonly deadlineMs?: number;
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** The format a content type names: msgpack for `application/msgpack` and its aliases, JSON otherwise. */
export function formatOf(contentType: string | null | undefined): BodyFormat {
  return /^application\/(x-|vnd\.)?msgpack\b/i.test(contentType?.trim() ?? '') ? 'msgpack' : 'json';
}

/** Parses and shape-checks a body; throws EdgeAgentError `bad_body` with what is wrong. */
export function parseInferBody(bytes: Uint8Array, format: BodyFormat): InferBody {
  let value: unknown;
  try {
    value =
      format === 'json' ? JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) : unpackr.unpack(bytes);
  } catch (error) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadBody,
      `the body is not valid ${format === 'json' ? 'JSON' : 'msgpack'}: ${(error as Error).message.slice(0, 200)}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadBody,
      'the body must be an object { inputs: { <name>: { dims, data } } }',
    );
  }
  const { inputs, deadlineMs } = value as Record<string, unknown>;
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new EdgeAgentError(EdgeErrorCode.BadBody, '"inputs" must be an object mapping input names to { dims, data }');
  }
  if (deadlineMs !== undefined && !(typeof deadlineMs === 'number' && deadlineMs > 0 && deadlineMs <= 600_000)) {
    throw new EdgeAgentError(EdgeErrorCode.BadBody, '"deadlineMs" must be a number of milliseconds in (0, 600000]');
  }
  return {
    inputs: inputs as Record<string, RequestTensor>,
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
  };
}

/** A reply body: the result with outputs as `{ dtype, dims, data }` (numbers in JSON, bytes in msgpack). */
export function serializeResult(result: InferResult, format: BodyFormat): Uint8Array | string {
  const outputs = Object.fromEntries(
    result.outputs.map((t) => [t.name, { dtype: t.dtype, dims: t.dims, data: tensorData(t, format) }]),
  );
  const body = {
    id: result.id,
    model: result.model,
    version: result.version,
    tailVersion: result.tailVersion,
    split: result.split,
    codec: result.codec,
    objective: result.objective,
    exit: result.exit,
    ranOn: result.ranOn,
    fallbackReason: result.fallbackReason,
    outputs,
    timings: result.timings,
    bytes: result.bytes,
    replica: result.replica,
  };
  return format === 'json' ? JSON.stringify(body) : packBody(body);
}

/** An error body: `{ error: { code, status, message } }`. */
export function serializeError(error: EdgeAgentError, format: BodyFormat): Uint8Array | string {
  const body = { error: { code: error.code, status: error.status, message: error.message } };
  return format === 'json' ? JSON.stringify(body) : packBody(body);
}

/** Encodes any plain value as msgpack, the way the API does. */
export function packBody(value: unknown): Uint8Array {
  const packed = packr.pack(value);
  return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
}

/** Decodes a msgpack body, the way the API does. */
export function unpackBody(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes) as unknown;
}

function tensorData(tensor: AgentTensor, format: BodyFormat): unknown {
  if (format === 'msgpack') return littleEndianBytes(tensor.data);
  // JSON has no 64-bit integers: int64 values within ±2^53 are numbers, larger ones decimal strings (exact).
  if (tensor.dtype === 'int64') {
    return Array.from(tensor.data, (v) => (v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v.toString()));
  }
  if (tensor.dtype === 'bool') return Array.from(tensor.data, (v) => v !== 0);
  return Array.from(tensor.data as ArrayLike<number>);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The elements of a typed array as little-endian bytes (a view on little-endian hosts). */
export function littleEndianBytes(data: AgentTensor['data']): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = bytes.slice();
  for (let i = 0; i < copy.length; i += data.BYTES_PER_ELEMENT) copy.subarray(i, i + data.BYTES_PER_ELEMENT).reverse();
  return copy;
}
