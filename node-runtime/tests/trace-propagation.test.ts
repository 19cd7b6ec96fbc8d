import { describe, expect, it } from 'vitest';
import { createTraceState, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { natsParentContext, remoteParentContext, traceHeaders } from '../src/telemetry/trace-propagation.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('remoteParentContext', () => {
  it("continues the caller's trace, with its tracestate", () => {
    const parent = trace.getSpanContext(remoteParentContext(TRACEPARENT, 'vendor=a'));
    expect(parent).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(parent?.traceState?.serialize()).toBe('vendor=a');
    expect(trace.getSpanContext(remoteParentContext(TRACEPARENT, ''))?.traceState).toBeUndefined();
  });

  it('starts a new trace (the root context) for a missing or invalid traceparent', () => {
    expect(remoteParentContext(undefined, 'vendor=a')).toBe(ROOT_CONTEXT);
    expect(remoteParentContext('', undefined)).toBe(ROOT_CONTEXT);
    expect(remoteParentContext(`00-${'0'.repeat(32)}-${SPAN_ID}-01`, undefined)).toBe(ROOT_CONTEXT);
  });

  it('reads the same from NATS headers, and no headers is the root context', () => {
    const h = natsHeaders();
    h.set('traceparent', TRACEPARENT);
    h.set('tracestate', 'vendor=b');
    const parent = trace.getSpanContext(natsParentContext(h));
    expect(parent).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, isRemote: true });
    expect(parent?.traceState?.serialize()).toBe('vendor=b');
    expect(natsParentContext(undefined)).toBe(ROOT_CONTEXT);
    expect(natsParentContext(natsHeaders())).toBe(ROOT_CONTEXT);
  });
});

describe('traceHeaders', () => {
  it("formats a span's traceparent and tracestate", () => {
    const span = trace.wrapSpanContext({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('vendor=c'),
    });
    expect(traceHeaders(span)).toEqual({ traceparent: TRACEPARENT, tracestate: 'vendor=c' });
    const plain = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.NONE });
    expect(traceHeaders(plain)).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-00` });
  });

  it('is empty when tracing is off (the no-op span has no valid ids)', () => {
    expect(traceHeaders(trace.wrapSpanContext(INVALID_SPAN_CONTEXT))).toEqual({});
  });
});
