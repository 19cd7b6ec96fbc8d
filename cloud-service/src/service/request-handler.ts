// One tail request, from bytes to reply. Every message with a reply subject gets exactly one reply: outputs or a
// typed error. Nothing here throws to the caller, whatever the bytes.
import { type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Msg } from '@nats-io/transport-node';
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
import { checkInputs, type CheckedInputs } from '../tail/tensor-batch.js';
import type { ServiceTelemetry } from '../telemetry/service-telemetry.js';
import type { Admission } from './admission.js';
import { ServeError, toServeWireError } from './serve-error.js';

/** Dependencies of {@link createRequestHandler}. */
export interface RequestHandlerDeps {
  readonly prefix: string;
  readonly replica: string;
  readonly registry: TailRegistry;
  readonly admission: Admission;
  readonly telemetry: ServiceTelemetry;
  readonly decodeLimits: DecodeLimits;
  /** Epoch ms with sub-ms precision; deadlines on the wire are epoch ms. */
  readonly now: () => number;
  /**
   * The largest message the connection may publish (the server's max_payload), or undefined while unknown. A reply
   * above it is answered `reply_too_large` instead: NATS would refuse to send it, and the agent would only time out.
   */
  readonly maxPayloadBytes?: () => number | undefined;
  /** Called when a reply could not even be sent (connection closing): logged, never thrown. */
  readonly onReplyFailure: (error: unknown) => void;
}

/** Creates the endpoint callback. It returns at once; the reply is sent when the request's batch has run. */
export function createRequestHandler(deps: RequestHandlerDeps): (msg: Msg) => void {
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
    const bytes = msg.data.byteLength;
    if (!deps.admission.tryEnter(bytes)) {
      try {
        msg.respond(overloaded);
      } catch (error) {
        deps.onReplyFailure(error);
      }
      telemetry.failed(WireErrorCode.Overloaded, 0);
      return;
    }
    void serve(msg)
      .catch(deps.onReplyFailure)
      .finally(() => deps.admission.leave(bytes));
  };

  /** Serves one admitted request; the caller releases its admission afterwards. */
  async function serve(msg: Msg): Promise<void> {
    const receivedAt = now();
    const parent = natsParentContext(msg.headers);
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
      const deadline = earliest(request.deadline, parseDeadline(msg.headers?.get(DEADLINE_HEADER)));
      expireIfDue(deadline, 'before it was queued');
      const lease = await deps.registry.acquire(address);
      release = () => lease.release();
      const inputs = child(ctx, 'cleave.tail.check', () =>
        checkInputs(lease.tail.signature, request.tensors, deps.decodeLimits),
      );
      expireIfDue(deadline, 'while its tail was loading');
      const pending = lease.tail.submit(inputs, deadline);
      if (pending === undefined) {
        throw new ServeError(
          WireErrorCode.Overloaded,
          `queue of tail ${address.model}@${address.version}/${address.split} is full; back off and retry`,
        );
      }
      const result = await pending;
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
      try {
        msg.respond(encodeMessage(errorReply(wire, requestId)));
      } finally {
        telemetry.failed(wire.code, now() - receivedAt);
        span.end();
      }
    } finally {
      release?.();
    }
  }

  function decode(msg: Msg): { request: InferRequest; address: TailAddress } {
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
