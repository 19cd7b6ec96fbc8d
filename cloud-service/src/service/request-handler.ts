// One tail request, from bytes to reply. Every message with a reply subject gets exactly one reply: outputs or a
// typed error. Nothing here throws to the caller, whatever the bytes.
import { type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import { natsParentContext } from '@cleave/node-runtime';
import {
  DEADLINE_HEADER,
  type DecodeLimits,
  decodeMessage,
  encodeAnyTensor,
  encodeMessage,
  errorReply,
  type InferReply,
  type InferRequest,
  isExpired,
  parseDeadline,
  parseTailSubject,
  PROTOCOL_VERSION,
  type TailAddress,
  wireError,
  WireErrorCode,
} from '@cleave/proto';
import type { TailResult } from '../tail/loaded-tail.js';
import type { TailRegistry } from '../tail/tail-registry.js';
import { checkInputs, type CheckedInputs, decodeCost } from '../tail/tensor-batch.js';
import type { ServiceTelemetry } from '../telemetry/service-telemetry.js';
import type { Admission } from './admission.js';
import { runInChunks } from './chunked-run.js';
import type { MemoryReclaimer } from './memory-reclaimer.js';
import { requestCost } from './request-cost.js';
import { SERVICE_ERROR_STATUS, ServeError, toServeWireError } from './serve-error.js';

/**
 * A tail request as the services endpoint hands it over: a NATS message that can also answer with an error status
 * (`@nats-io/services`' ServiceMsg), which sets the `Nats-Service-Error` headers beside the msgpack error body.
 */
export interface TailRequestMsg extends Pick<Msg, 'subject' | 'reply' | 'data' | 'headers' | 'respond'> {
  respondError(code: number, description: string, data?: Uint8Array): boolean;
}

/** Dependencies of {@link createRequestHandler}. */
export interface RequestHandlerDeps {
  readonly prefix: string;
  readonly replica: string;
  readonly registry: TailRegistry;
  readonly admission: Admission;
  readonly telemetry: ServiceTelemetry;
  readonly decodeLimits: DecodeLimits;
  /** Most elements across one request's tensors; past it, `too_large` before anything is decoded. */
  readonly maxElementsPerRequest: number;
  /** Most samples one onnxruntime run takes: a larger request runs in chunks of this size. */
  readonly maxSamplesPerRun: number;
  /** Epoch ms with sub-ms precision; deadlines on the wire are epoch ms. */
  readonly now: () => number;
  /**
   * The largest message the connection may publish (the server's max_payload), or undefined while unknown. A reply
   * above it is answered `reply_too_large` instead: NATS would refuse to send it, and the agent would only time out.
   */
  readonly maxPayloadBytes?: () => number | undefined;
  /** Called when a reply could not even be sent (connection closing): logged, never thrown. */
  readonly onReplyFailure: (error: unknown) => void;
  /** Told the garbage each request leaves behind, so that it is collected soon (see memory-reclaimer.ts). */
  readonly reclaimer?: MemoryReclaimer;
}

/** Creates the endpoint callback. It returns at once; the reply is sent when the request's batch has run. */
export function createRequestHandler(deps: RequestHandlerDeps): (msg: TailRequestMsg) => void {
  const { telemetry, now } = deps;
  const { tracer } = telemetry;

  // Past the in-flight bound, the request is refused before it is even decoded, with reply bytes built once:
  // shedding must stay much cheaper than serving, or overload would starve the requests already admitted.
  // Such a reply has no `id`; the caller matches it by its reply subject, as NATS requests do.
  const overloaded = encodeMessage(
    errorReply(
      wireError(
        WireErrorCode.Overloaded,
        `replica ${deps.replica} is at its in-flight limit (${deps.admission.limits.maxRequests} requests or ` +
          `${deps.admission.limits.maxBytes} bytes); back off and retry`,
      ),
    ),
  );

  return (msg) => {
    if (!msg.reply) {
      telemetry.dropped('no_reply_subject');
      return;
    }
    // nats.js parses headers on first access and throws on a name it finds invalid (a space, a control or a
    // non-ASCII byte): read them once, here, so such a request is answered instead of silently lost.
    let headers: MsgHdrs | undefined;
    try {
      headers = msg.headers;
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      const wire = wireError(WireErrorCode.BadRequest, `the request's NATS headers are malformed: ${problem}`);
      respondWithError(msg, wire.code, encodeMessage(errorReply(wire)));
      telemetry.failed(WireErrorCode.BadRequest, 0);
      return;
    }
    const wireBytes = msg.data.byteLength;
    // nats.js gathers a message's payload from 64 KiB socket reads into a buffer it grows by doubling: by the time
    // the message is here, about twice its size is already garbage.
    deps.reclaimer?.released(2 * wireBytes);
    if (!deps.admission.tryEnter(wireBytes)) {
      respondWithError(msg, WireErrorCode.Overloaded, overloaded);
      telemetry.failed(WireErrorCode.Overloaded, 0);
      deps.reclaimer?.released(wireBytes);
      return;
    }
    const held = { bytes: wireBytes, garbage: wireBytes };
    void serve(msg, headers, held)
      .catch(deps.onReplyFailure)
      .finally(() => {
        deps.admission.leave(held.bytes);
        deps.reclaimer?.released(held.garbage, deps.admission.inFlight === 0);
      });
  };

  /**
   * Sends an encoded error reply, with the micro-service error headers (`Nats-Service-Error-Code`: an HTTP-like
   * status, `Nats-Service-Error`: the wire code) so that NATS tools see it as an error too. Never throws.
   */
  function respondWithError(msg: TailRequestMsg, code: WireErrorCode, body: Uint8Array): void {
    try {
      msg.respondError(SERVICE_ERROR_STATUS[code], code, body);
    } catch (failure) {
      deps.onReplyFailure(failure);
    }
  }

  /**
   * Serves one admitted request; `held` starts at its wire bytes and grows to its decoded cost, and the caller
   * releases whatever it ends at.
   */
  async function serve(
    msg: TailRequestMsg,
    headers: MsgHdrs | undefined,
    held: { bytes: number; garbage: number },
  ): Promise<void> {
    const receivedAt = now();
    const parent = natsParentContext(headers);
    const span = tracer.startSpan(
      'cleave.tail.request',
      { kind: SpanKind.SERVER, startTime: receivedAt, attributes: { 'cleave.replica': deps.replica } },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    let requestId: string | undefined;
    let release: (() => void) | undefined;
    try {
      const { request, address } = child(ctx, 'cleave.tail.decode', () => decode(msg));
      requestId = request.id;
      span.setAttributes({
        'cleave.request_id': request.id,
        'cleave.model': address.model,
        'cleave.version': address.version,
        'cleave.split': address.split,
      });
      // What decoding leaves behind over the request's stay, chunk by chunk: every element decoded once.
      held.garbage += decodeCost(request.tensors).bytes;
      admitDecodedCost(request, held);
      const deadline = earliest(request.deadline, parseDeadline(headers?.get(DEADLINE_HEADER)));
      expireIfDue(deadline, 'before it was queued');
      const lease = await deps.registry.acquire(address);
      release = () => lease.release();
      const inputs = child(ctx, 'cleave.tail.check', () =>
        checkInputs(lease.tail.signature, request.tensors, deps.decodeLimits, deps.maxSamplesPerRun),
      );
      expireIfDue(deadline, 'while its tail was loading');
      const result = await runInChunks(lease.tail, inputs, deadline, deps.maxSamplesPerRun, deps.decodeLimits);
      recordBatchSpans(ctx, result);
      const reply = child(ctx, 'cleave.tail.encode', () => encodeReply(request, inputs, result));
      checkReplySize(reply.byteLength, address, result);
      msg.respond(reply);
      const finishedAt = now();
      telemetry.served(address, { totalMs: finishedAt - receivedAt, queueMs: result.startedAt - result.enqueuedAt });
      span.setAttributes({ 'cleave.batch_size': result.batchSize });
      span.end(finishedAt);
    } catch (error) {
      const wire = toServeWireError(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: wire.code });
      span.setAttribute('cleave.error_code', wire.code);
      respondWithError(msg, wire.code, encodeMessage(errorReply(wire, requestId)));
      telemetry.failed(wire.code, now() - receivedAt);
      span.end();
    } finally {
      release?.();
    }
  }

  // The request entered with its wire bytes; now that its dims are read, it must also fit with what decoding it
  // allocates, or it is refused before a single element is decoded.
  function admitDecodedCost(request: InferRequest, held: { bytes: number }): void {
    const cost = requestCost(request.tensors, held.bytes, {
      maxElementsPerRequest: deps.maxElementsPerRequest,
      maxInFlightBytes: deps.admission.limits.maxBytes,
    });
    if (!deps.admission.tryGrow(cost - held.bytes)) {
      throw new ServeError(
        WireErrorCode.Overloaded,
        `replica ${deps.replica} cannot hold ${cost} more decoded bytes now (in-flight bound ` +
          `${deps.admission.limits.maxBytes} bytes); back off and retry`,
      );
    }
    held.bytes = cost;
  }

  function decode(msg: TailRequestMsg): { request: InferRequest; address: TailAddress } {
    const message = decodeMessage(msg.data, deps.decodeLimits);
    if (message.kind !== 'infer') {
      throw new ServeError(WireErrorCode.BadRequest, `tail subjects take infer requests, not ${message.kind}`);
    }
    const address = parseTailSubject(msg.subject, deps.prefix);
    const mismatch = (['model', 'version', 'split'] as const).filter((k) => address[k] !== message[k]);
    if (mismatch.length > 0) {
      throw new ServeError(
        WireErrorCode.BadRequest,
        `subject says ${address.model}@${address.version}/${address.split} but the message says ` +
          `${message.model}@${message.version}/${message.split}; they must agree`,
      );
    }
    return { request: message, address };
  }

  function expireIfDue(deadline: number | undefined, when: string): void {
    if (isExpired(deadline, now())) {
      throw new ServeError(WireErrorCode.DeadlineExceeded, `deadline ${deadline} passed ${when}`);
    }
  }

  function encodeReply(request: InferRequest, inputs: CheckedInputs, result: TailResult): Uint8Array {
    const reply: InferReply = {
      kind: 'infer_reply',
      v: PROTOCOL_VERSION,
      id: request.id,
      outputs: result.outputs.map((t) => encodeAnyTensor(t.name, t.data, t.dims, inputs.replyEncoding, t.dtype)),
      processingMs: result.finishedAt - result.startedAt,
      queueMs: result.startedAt - result.enqueuedAt,
      batchSize: result.batchSize,
      replica: deps.replica,
    };
    return encodeMessage(reply, deps.decodeLimits);
  }

  function checkReplySize(bytes: number, address: TailAddress, result: TailResult): void {
    const limit = deps.maxPayloadBytes?.();
    if (limit === undefined || bytes <= limit) return;
    const outputs = result.outputs.map((t) => `${t.name} ${t.dtype}[${t.dims.join(', ')}]`).join(', ');
    throw new ServeError(
      WireErrorCode.ReplyTooLarge,
      `the reply of ${address.model}@${address.version}/${address.split} is ${bytes} bytes, over the connection's ` +
        `max_payload of ${limit} bytes (outputs ${outputs}); run the tail locally, and send smaller batches or ` +
        `choose a codec with smaller replies (f16)`,
    );
  }

  function child<T>(ctx: Context, name: string, fn: () => T): T {
    const span = tracer.startSpan(name, {}, ctx);
    try {
      return fn();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  }

  // The queue wait and the batch run happened elsewhere; they are recorded afterwards with their real times.
  function recordBatchSpans(ctx: Context, result: TailResult): void {
    const queued: Span = tracer.startSpan('cleave.tail.queue', { startTime: result.enqueuedAt }, ctx);
    queued.end(result.startedAt);
    const run = tracer.startSpan(
      'cleave.tail.batch_run',
      {
        startTime: result.startedAt,
        attributes: { 'cleave.batch_size': result.batchSize, 'cleave.batch_samples': result.batchSamples },
      },
      ctx,
    );
    run.end(result.finishedAt);
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
