import { describe, expect, it } from 'vitest';
import {
  DEADLINE_HEADER,
  formatDeadline,
  formatTraceparent,
  isExpired,
  isSampled,
  parseDeadline,
  parseTraceparent,
  remainingMs,
  TraceHeader,
} from '../src/trace-context.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('traceparent: round trip', () => {
  it('parses the W3C example and formats it back', () => {
    const parent = parseTraceparent(VALID);
    expect(parent).toEqual({ version: '00', traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 });
    expect(parent && isSampled(parent)).toBe(true);
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 })).toBe(VALID);
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 0 })).toBe(`00-${TRACE_ID}-${SPAN_ID}-00`);
    expect(TraceHeader).toEqual({ Traceparent: 'traceparent', Tracestate: 'tracestate' });
  });

  it('reads a future version, ignoring fields after a dash', () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-09-what-the-future-holds`)).toEqual({
      version: 'cc',
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      flags: 9,
    });
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-09`)?.flags).toBe(9);
  });
});

describe('traceparent: expected failure', () => {
  it.each([
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['uppercase hex', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
    ['non-hex span id', `00-${TRACE_ID}-${SPAN_ID.slice(1)}g-01`],
    ['non-hex flags', `00-${TRACE_ID}-${SPAN_ID}-0x`],
    ['extra data on version 00', `${VALID}-00`],
    ['future version without a dash after the flags', `01-${TRACE_ID}-${SPAN_ID}-01x`],
    ['wrong separators', `00_${TRACE_ID}_${SPAN_ID}_01`],
    ['empty', ''],
  ])('returns undefined for %s', (_why, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('returns undefined when the header is missing', () => {
    expect(parseTraceparent(undefined)).toBeUndefined();
    expect(parseTraceparent(null)).toBeUndefined();
  });

  it('refuses to format invalid ids or flags', () => {
    expect(() => formatTraceparent({ traceId: '0'.repeat(32), spanId: SPAN_ID, flags: 1 })).toThrow(
      new RangeError(`"traceId" must be 32 lowercase hex digits, not all zero; got "${'0'.repeat(32)}"`),
    );
    expect(() => formatTraceparent({ traceId: TRACE_ID, spanId: 'ABC', flags: 1 })).toThrow(/^"spanId" must be/);
    expect(() => formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 256 })).toThrow(
      new RangeError('"flags" must be an integer in [0, 255]; got 256'),
    );
  });
});

describe('deadline header', () => {
  it('formats and parses absolute epoch milliseconds', () => {
    expect(DEADLINE_HEADER).toBe('cleave-deadline');
    expect(formatDeadline(1_717_000_000_123)).toBe('1717000000123');
    expect(parseDeadline('1717000000123')).toBe(1_717_000_000_123);
  });

  it('ignores values that are not plain decimal integers', () => {
    for (const value of [undefined, null, '', '-5', '1.5', '1e12', ' 12', '0x10', '99999999999999999']) {
      expect(parseDeadline(value)).toBeUndefined();
    }
    expect(() => formatDeadline(1.5)).toThrow(
      new RangeError('"deadlineMs" must be a non-negative safe integer (epoch ms); got 1.5'),
    );
  });

  it('computes the time left and expiry against a given clock', () => {
    expect(remainingMs(1000, 400)).toBe(600);
    expect(remainingMs(1000, 1400)).toBe(0);
    expect(remainingMs(undefined, 5)).toBe(Number.POSITIVE_INFINITY);
    expect(isExpired(1000, 999)).toBe(false);
    expect(isExpired(1000, 1000)).toBe(true);
    expect(isExpired(undefined, 1e15)).toBe(false);
  });
});
