// W3C trace context between the OpenTelemetry API and the wire, for both daemons: the context a request's span
// starts in (from the caller's `traceparent` / `tracestate`, as HTTP fields or NATS headers) and the headers a
// span hands on. The strict parse and format of `traceparent` itself is @cleave/proto's.
import { type Context, createTraceState, isSpanContextValid, ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { formatTraceparent, parseTraceparent, TraceHeader } from '@cleave/proto';

/** The W3C trace headers of a request or of a span, as plain fields; each is absent when there is none. */
export interface TraceHeaders {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/**
 * The context to start a request's span in: the caller's trace when it sent a valid `traceparent`, else the root
 * context, so the request starts a new trace as the W3C spec requires. An empty `tracestate` carries nothing.
 */
export function remoteParentContext(
  traceparent: string | null | undefined,
  tracestate: string | null | undefined,
): Context {
  const parent = parseTraceparent(traceparent);
  if (parent === undefined) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags,
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  });
}

/** {@link remoteParentContext} from a NATS message's headers (none: the root context). */
export function natsParentContext(headers: MsgHdrs | undefined): Context {
  return remoteParentContext(headers?.get(TraceHeader.Traceparent), headers?.get(TraceHeader.Tracestate));
}

/** `traceparent` / `tracestate` for a span, or nothing when tracing is off (the no-op span has no valid ids). */
export function traceHeaders(span: Span): TraceHeaders {
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  const state = ctx.traceState?.serialize();
  return {
    traceparent: formatTraceparent({ traceId: ctx.traceId, spanId: ctx.spanId, flags: ctx.traceFlags }),
    ...(state ? { tracestate: state } : {}),
  };
}
