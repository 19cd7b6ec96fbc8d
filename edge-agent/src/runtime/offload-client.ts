// One tail request to the cloud: encode, send with deadline and trace headers, classify what came back. Never
// throws: every outcome is either outputs or a reason to run the tail locally.
import {
  ClosedConnectionError,
  DrainingConnectionError,
  headers as natsHeaders,
  type NatsConnection,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import {
  type Codec,
  DEADLINE_HEADER,
  decodeAnyTensor,
  decodeMessage,
  encodeAnyTensor,
  encodeMessage,
  formatDeadline,
  type InferRequest,
  PROTOCOL_VERSION,
  tailSubject,
  TraceHeader,
  WireErrorCode,
} from '@cleave/proto';
import type { ThrottleClock } from '../adapt/cpu-throttle.js';
import type { AgentTensor } from './tensor-io.js';

/** Fallback reasons of the agent's own making, besides the cloud's error codes. */
const LOCAL_FALLBACK_REASONS = [
  'timeout',
  'no_responders',
  'disconnected',
  'no_connection',
  'circuit_open',
  'refused_recently',
  'deadline_too_close',
  'bad_reply',
  'request_failed',
  'unsupported_tensor',
  'request_too_large',
] as const;

/** Why a request's tail ran on the edge instead of in the cloud. */
export type FallbackReason = WireErrorCode | (typeof LOCAL_FALLBACK_REASONS)[number];

/** Every {@link FallbackReason}: the fallback counters start at 0 for each. */
export const FALLBACK_REASONS: readonly FallbackReason[] = [...Object.values(WireErrorCode), ...LOCAL_FALLBACK_REASONS];

/** One tail request. */
export interface OffloadRequest {
  readonly id: string;
  readonly prefix: string;
  readonly model: string;
  readonly version: string;
  readonly split: string;
  readonly tensors: readonly AgentTensor[];
  readonly codec: Codec;
  /** Absolute deadline, epoch ms. */
  readonly deadline: number;
  /** How long to wait for the reply. */
  readonly timeoutMs: number;
  /** Output names the reply must carry. */
  readonly expectedOutputs: readonly string[];
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Times and sizes every outcome reports. */
export interface OffloadMeasures {
  readonly encodeMs: number;
  /** From handing the bytes to NATS to having the reply (or giving up). */
  readonly elapsedMs: number;
  /** Bytes of the request handed to NATS (0 when nothing was sent). */
  readonly bytesSent: number;
  /** Bytes of the reply, an error reply included (0 when none came). */
  readonly bytesReceived: number;
  /** Of `elapsedMs`, the time the kernel held the agent back under a CPU quota (see adapt/cpu-throttle.ts). */
  readonly throttledMs?: number;
}

/** The cloud answered with outputs. */
export interface OffloadSuccess extends OffloadMeasures {
  readonly ok: true;
  readonly outputs: readonly AgentTensor[];
  readonly processingMs: number;
  readonly queueMs: number;
  readonly batchSize: number;
  readonly replica: string | undefined;
  readonly decodeMs: number;
}

/** The cloud did not answer usefully. */
export interface OffloadFailure extends OffloadMeasures {
  readonly ok: false;
  readonly reason: FallbackReason;
  readonly message: string;
  /** True when the failure says the cloud is unwell (feeds the circuit breaker). */
  readonly cloudUnwell: boolean;
}

/** Outputs, or why not. */
export type OffloadOutcome = OffloadSuccess | OffloadFailure;

// Codes that describe the cloud's health; the others describe this request or bundle and say nothing about it
// (`reply_too_large` is the plan's problem: outputs too big for the link's max_payload, not a failing cloud).
const UNWELL_CODES: ReadonlySet<string> = new Set(['overloaded', 'unavailable', 'internal', 'deadline_exceeded']);

/** Sends the request and classifies the reply. */
export async function offloadTail(
  nc: NatsConnection,
  request: OffloadRequest,
  now: () => number,
  throttle?: ThrottleClock,
): Promise<OffloadOutcome> {
  const encodeStart = now();
  let bytes: Uint8Array;
  try {
    const message: InferRequest = {
      kind: 'infer',
      v: PROTOCOL_VERSION,
      id: request.id,
      model: request.model,
      version: request.version,
      split: request.split,
      tensors: request.tensors.map((t) => encodeAnyTensor(t.name, t.data, t.dims, request.codec, t.dtype)),
      deadline: Math.floor(request.deadline),
      sentAt: Math.floor(Date.now()),
    };
    bytes = encodeMessage(message);
  } catch (error) {
    const encodeMs = now() - encodeStart;
    return failure('unsupported_tensor', `cannot encode the cut tensors: ${(error as Error).message}`, false, {
      encodeMs,
      elapsedMs: 0,
      bytesSent: 0,
      bytesReceived: 0,
    });
  }
  const encodeMs = now() - encodeStart;
  // NATS refuses a message over the server's max_payload; that is this request's size, not the cloud's health.
  const maxPayload = nc.info?.max_payload;
  if (maxPayload !== undefined && bytes.byteLength > maxPayload) {
    return failure(
      'request_too_large',
      `the request is ${bytes.byteLength} bytes but the server's max_payload is ${maxPayload}; send smaller batches or a smaller codec`,
      false,
      { encodeMs, elapsedMs: 0, bytesSent: 0, bytesReceived: 0 },
    );
  }
  const headers = natsHeaders();
  headers.set(DEADLINE_HEADER, formatDeadline(Math.floor(request.deadline)));
  if (request.traceparent !== undefined) headers.set(TraceHeader.Traceparent, request.traceparent);
  if (request.tracestate !== undefined) headers.set(TraceHeader.Tracestate, request.tracestate);
  const subject = tailSubject(request);
  const mark = throttle?.mark();
  const sentAt = now();
  const throttled = () => (mark === undefined ? 0 : throttle!.since(mark));
  const measures = (received = 0): OffloadMeasures => ({
    encodeMs,
    elapsedMs: now() - sentAt,
    bytesSent: bytes.byteLength,
    bytesReceived: received,
    throttledMs: throttled(),
  });
  let reply;
  try {
    reply = await nc.request(subject, bytes, { timeout: Math.max(1, Math.round(request.timeoutMs)), headers });
  } catch (error) {
    return classifyRequestError(error, request.timeoutMs, measures());
  }
  const elapsedMs = now() - sentAt;
  const throttledMs = throttled();
  const decodeStart = now();
  const received = reply.data.byteLength;
  try {
    const message = decodeMessage(reply.data);
    if (message.kind === 'error') {
      return failure(message.code, message.message, UNWELL_CODES.has(message.code), measures(received));
    }
    if (message.kind !== 'infer_reply' || message.id !== request.id) {
      return failure('bad_reply', `expected infer_reply ${request.id}, got ${message.kind}`, true, measures(received));
    }
    const outputs = message.outputs.map((t) => decodeAnyTensor(t));
    const missing = request.expectedOutputs.filter((name) => !outputs.some((o) => o.name === name));
    if (missing.length > 0) {
      return failure('bad_reply', `reply lacks outputs [${missing.join(', ')}]`, true, measures(received));
    }
    return {
      ok: true,
      outputs,
      processingMs: message.processingMs,
      queueMs: message.queueMs,
      batchSize: message.batchSize,
      replica: message.replica,
      bytesSent: bytes.byteLength,
      bytesReceived: reply.data.byteLength,
      encodeMs,
      elapsedMs,
      throttledMs,
      decodeMs: now() - decodeStart,
    };
  } catch (error) {
    return failure('bad_reply', `malformed reply: ${(error as Error).message}`, true, measures(received));
  }
}

function classifyRequestError(error: unknown, timeoutMs: number, measures: OffloadMeasures): OffloadFailure {
  if (error instanceof TimeoutError) {
    return failure('timeout', `no reply within ${Math.round(timeoutMs)} ms`, true, measures);
  }
  if (error instanceof RequestError && error.isNoResponders()) {
    return failure('no_responders', 'no cloud replica is listening', true, measures);
  }
  if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
    return failure('disconnected', error.message, true, measures);
  }
  // The request with its headers is over the server's max_payload: nothing was sent, and the cloud is fine.
  if (error instanceof Error && /max_payload/.test(error.message)) {
    return failure('request_too_large', error.message, false, { ...measures, bytesSent: 0 });
  }
  return failure('request_failed', (error as Error)?.message ?? String(error), true, measures);
}

function failure(reason: FallbackReason, message: string, cloudUnwell: boolean, m: OffloadMeasures): OffloadFailure {
  return { ok: false, reason, message, cloudUnwell, ...m };
}
