// The service's metrics, on the OpenTelemetry API only: the cli decides which SDK (if any) receives them; a
// request's trace context comes from @cleave/node-runtime. Attributes stay low-cardinality: model, version and
// split only after a tail was found, so random names in bad requests cannot create unbounded series.
// Names follow Prometheus conventions as the OTel exporter prints them (it appends `_total` to counters, not unit
// suffixes, so `_seconds` and `_bytes` are in the names); labels are the edge's (`model`, `version`, `split`), with
// `replica` where the edge has `agent`.
import { type Meter, metrics, trace, type Tracer } from '@opentelemetry/api';
import { LATENCY_BUCKETS_SECONDS, msToSeconds } from '@cleave/node-runtime';
import { type TailAddress, WireErrorCode } from '@cleave/proto';

/** Instrumentation scope of the service's spans and metrics. */
export const TELEMETRY_SCOPE = '@cleave/cloud-service';

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** Why a message may be dropped without a reply; each reason's counter starts at 0. */
const DROP_REASONS = ['no_reply_subject'] as const;
/** One of the reasons a message is dropped without a reply. */
type DropReason = (typeof DROP_REASONS)[number];

/** Live values the gauges read at collection time. */
export interface TelemetryGauges {
  inFlight(): number;
  queueDepth(): number;
  loadedTails(): number;
  loadedTailBytes(): number;
}

/** Plain running totals, for $SRV.STATS, logs and tests (the meter may be a no-op). */
export interface TelemetryCounts {
  readonly served: number;
  readonly failed: Readonly<Partial<Record<WireErrorCode, number>>>;
  readonly dropped: number;
  readonly batches: number;
}

/** What the service records. */
export interface ServiceTelemetry {
  readonly tracer: Tracer;
  /** Totals since start. */
  counts(): TelemetryCounts;
  /** A request answered with outputs. */
  served(tail: TailAddress, timings: { totalMs: number; queueMs: number }): void;
  /** A request answered with an error reply. */
  failed(code: WireErrorCode, totalMs: number): void;
  /** A message dropped without a reply (e.g. it had no reply subject). */
  dropped(reason: DropReason): void;
  /** One batch run. */
  batch(tail: TailAddress, batch: { requests: number; samples: number; runMs: number }): void;
}

/**
 * Creates the service's instruments on `meter` (default: the global meter, a no-op without an SDK). Error counters
 * start at 0 for every wire code, so rate() and alerts see the series before the first error.
 */
export function createServiceTelemetry(options: {
  /** The `replica` label of every series. */
  readonly replica: string;
  readonly meter?: Meter;
  readonly tracer?: Tracer;
  readonly gauges: TelemetryGauges;
}): ServiceTelemetry {
  const meter = options.meter ?? metrics.getMeter(TELEMETRY_SCOPE);
  const tracer = options.tracer ?? trace.getTracer(TELEMETRY_SCOPE);
  const replica = options.replica;
  const requests = meter.createCounter('cleave_tail_requests', {
    description: 'Tail requests answered with outputs, by model, version and split',
  });
  const errors = meter.createCounter('cleave_tail_errors', { description: 'Error replies, by wire error code' });
  const dropped = meter.createCounter('cleave_tail_dropped', {
    description: 'Messages dropped without a reply, by reason',
  });
  const duration = meter.createHistogram('cleave_tail_request_duration_seconds', {
    description: 'Time from receipt to reply inside the replica, by outcome (ok or the error code)',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
  });
  const queueTime = meter.createHistogram('cleave_tail_queue_duration_seconds', {
    description: 'Time a request waited in its batcher',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
  });
  const runTime = meter.createHistogram('cleave_tail_run_duration_seconds', {
    description: 'Time one batch ran in onnxruntime',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
  });
  const batchSize = meter.createHistogram('cleave_tail_batch_size', {
    description: 'Requests per batch run',
    advice: { explicitBucketBoundaries: BATCH_BUCKETS },
  });
  for (const code of Object.values(WireErrorCode)) errors.add(0, { replica, code });
  for (const reason of DROP_REASONS) dropped.add(0, { replica, reason });
  const { gauges } = options;
  meter
    .createObservableGauge('cleave_tail_queue_depth', { description: 'Requests queued across tails' })
    .addCallback((result) => result.observe(gauges.queueDepth(), { replica }));
  meter
    .createObservableGauge('cleave_tail_in_flight', { description: 'Requests admitted and not yet answered' })
    .addCallback((result) => result.observe(gauges.inFlight(), { replica }));
  meter
    .createObservableGauge('cleave_tail_loaded', { description: 'Tail sessions loaded' })
    .addCallback((result) => result.observe(gauges.loadedTails(), { replica }));
  meter
    .createObservableGauge('cleave_tail_loaded_bytes', { description: 'ONNX bytes of the loaded tails', unit: 'By' })
    .addCallback((result) => result.observe(gauges.loadedTailBytes(), { replica }));

  let served = 0;
  let droppedCount = 0;
  let batches = 0;
  const failed: Partial<Record<WireErrorCode, number>> = {};
  const tailAttributes = (tail: TailAddress) => ({
    replica,
    model: tail.model,
    version: tail.version,
    split: tail.split,
  });
  return {
    tracer,
    counts: () => ({ served, failed: { ...failed }, dropped: droppedCount, batches }),
    served(tail, timings) {
      served += 1;
      const attributes = tailAttributes(tail);
      requests.add(1, attributes);
      duration.record(msToSeconds(timings.totalMs), { ...attributes, outcome: 'ok' });
      queueTime.record(msToSeconds(timings.queueMs), attributes);
    },
    failed(code, totalMs) {
      failed[code] = (failed[code] ?? 0) + 1;
      errors.add(1, { replica, code });
      duration.record(msToSeconds(totalMs), { replica, outcome: code });
    },
    dropped(reason) {
      droppedCount += 1;
      dropped.add(1, { replica, reason });
    },
    batch(tail, batch) {
      batches += 1;
      batchSize.record(batch.requests, tailAttributes(tail));
      runTime.record(msToSeconds(batch.runMs), tailAttributes(tail));
    },
  };
}
