// NATS headers that travel with a tail request: W3C trace context (so one trace spans edge → NATS → cloud)
// and the request deadline (so the cloud can drop work nobody is waiting for before decoding the body).

/** W3C trace-context header names, as NATS message headers. */
export const TraceHeader = {
  Traceparent: 'traceparent',
  Tracestate: 'tracestate',
} as const;
/** One of {@link TraceHeader}. */
export type TraceHeader = (typeof TraceHeader)[keyof typeof TraceHeader];

/** Header carrying the request deadline as absolute epoch milliseconds, in decimal. */
export const DEADLINE_HEADER = 'cleave-deadline';

/** The fields of a `traceparent` header. Ids are lowercase hex; `flags` is the 8-bit trace-flags field. */
export interface TraceParent {
  readonly version: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
}

/** The `sampled` bit of {@link TraceParent.flags}. */
export const TRACE_FLAG_SAMPLED = 0x01;

const VERSION_00_LENGTH = 55;
const HEX2 = /^[0-9a-f]{2}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * Parses a `traceparent` header strictly per W3C Trace Context level 1. Returns undefined for anything invalid
 * (the receiver then starts a new trace, as the spec requires), never throws.
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  if (typeof header !== 'string' || header.length < VERSION_00_LENGTH) return undefined;
  const version = header.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return undefined;
  // Version 00 is exactly 55 characters. A later version may append fields after a '-', which we ignore.
  if (
    version === '00' ? header.length !== VERSION_00_LENGTH : header.length > VERSION_00_LENGTH && header[55] !== '-'
  ) {
    return undefined;
  }
  if (header[2] !== '-' || header[35] !== '-' || header[52] !== '-') return undefined;
  const traceId = header.slice(3, 35);
  const spanId = header.slice(36, 52);
  const flagsHex = header.slice(53, 55);
  if (!TRACE_ID.test(traceId) || traceId === ZERO_TRACE_ID) return undefined;
  if (!SPAN_ID.test(spanId) || spanId === ZERO_SPAN_ID) return undefined;
  if (!HEX2.test(flagsHex)) return undefined;
  return { version, traceId, spanId, flags: Number.parseInt(flagsHex, 16) };
}

/**
 * Formats a version-00 `traceparent` header (a sender only emits the version it implements). Throws
 * TypeError / RangeError for ids that are not lowercase hex of the right length or are all zeros.
 */
export function formatTraceparent(parent: Pick<TraceParent, 'traceId' | 'spanId' | 'flags'>): string {
  const { traceId, spanId, flags } = parent;
  if (typeof traceId !== 'string' || !TRACE_ID.test(traceId) || traceId === ZERO_TRACE_ID) {
    throw new RangeError(`"traceId" must be 32 lowercase hex digits, not all zero; got ${JSON.stringify(traceId)}`);
  }
  if (typeof spanId !== 'string' || !SPAN_ID.test(spanId) || spanId === ZERO_SPAN_ID) {
    throw new RangeError(`"spanId" must be 16 lowercase hex digits, not all zero; got ${JSON.stringify(spanId)}`);
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
    throw new RangeError(`"flags" must be an integer in [0, 255]; got ${String(flags)}`);
  }
  return `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, '0')}`;
}

/** True when the trace was sampled upstream, so the receiver should record its spans too. */
export function isSampled(parent: Pick<TraceParent, 'flags'>): boolean {
  return (parent.flags & TRACE_FLAG_SAMPLED) !== 0;
}

/** Formats an absolute deadline (epoch ms) for {@link DEADLINE_HEADER}. Throws RangeError unless it is a safe integer ≥ 0. */
export function formatDeadline(deadlineMs: number): string {
  if (!Number.isSafeInteger(deadlineMs) || deadlineMs < 0) {
    throw new RangeError(`"deadlineMs" must be a non-negative safe integer (epoch ms); got ${String(deadlineMs)}`);
  }
  return String(deadlineMs);
}

/** Reads {@link DEADLINE_HEADER}: the epoch-ms deadline, or undefined when absent or not a plain decimal integer. */
export function parseDeadline(header: string | null | undefined): number | undefined {
  if (typeof header !== 'string' || !/^[0-9]{1,16}$/.test(header)) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Milliseconds left until `deadlineMs` at time `nowMs` (never negative); Infinity when there is no deadline. */
export function remainingMs(deadlineMs: number | undefined, nowMs: number): number {
  return deadlineMs === undefined ? Number.POSITIVE_INFINITY : Math.max(0, deadlineMs - nowMs);
}

/** True when `deadlineMs` is set and has passed at time `nowMs`. */
export function isExpired(deadlineMs: number | undefined, nowMs: number): boolean {
  return deadlineMs !== undefined && nowMs >= deadlineMs;
}
