// The service's metrics, on the OpenTelemetry API only: the cli decides which SDK (if any) receives them; a
// request's trace context comes from @cleave/node-runtime. Attributes stay low-cardinality: model, version and
// split only after a tail was found, so random names in bad requests cannot create unbounded series.
import { type Meter, metrics, trace, type Tracer } from '@opentelemetry/api';
import type { TailAddress, WireErrorCode } from '@cleave/proto';

/** Instrumentation scope of the service's spans and metrics. */
export const TELEMETRY_SCOPE = '@cleave/cloud-service';

const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

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
  dropped(reason: string): void;
  /** One batch run. */
  batch(tail: TailAddress, batch: { requests: number; samples: number; runMs: number }): void;
}

/** Creates the service's instruments on `meter` (default: the global meter, a no-op without an SDK). */
export function createServiceTelemetry(options: {
  readonly meter?: Meter;
  readonly tracer?: Tracer;
  readonly gauges: TelemetryGauges;
}): ServiceTelemetry {
  const meter = options.meter ?? metrics.getMeter(TELEMETRY_SCOPE);
  const tracer = options.tracer ?? trace.getTracer(TELEMETRY_SCOPE);
  const requests = meter.createCounter('cleave.tail.requests', {
    description: 'Tail requests answered with outputs, by model, version and split',
  });
  const errors = meter.createCounter('cleave.tail.errors', { description: 'Error replies, by wire error code' });
  const dropped = meter.createCounter('cleave.tail.dropped', {
    description: 'Messages dropped without a reply, by reason',
  });
  const latency = meter.createHistogram('cleave.tail.latency_ms', {
    description: 'Time from receipt to reply inside the replica',
    unit: 'ms',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS },
  });
  const queueTime = meter.createHistogram('cleave.tail.queue_time_ms', {
    description: 'Time a request waited in its batcher',
    unit: 'ms',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS },
  });
  const runTime = meter.createHistogram('cleave.tail.run_time_ms', {
    description: 'Time one batch ran in onnxruntime',
    unit: 'ms',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS },
  });
  const batchSize = meter.createHistogram('cleave.tail.batch_size', {
    description: 'Requests per batch run',
    advice: { explicitBucketBoundaries: BATCH_BUCKETS },
  });
  const { gauges } = options;
  meter
    .createObservableGauge('cleave.tail.queue_depth', { description: 'Requests queued across tails' })
    .addCallback((result) => result.observe(gauges.queueDepth()));
  meter
    .createObservableGauge('cleave.tail.in_flight', { description: 'Requests admitted and not yet answered' })
    .addCallback((result) => result.observe(gauges.inFlight()));
  meter
    .createObservableGauge('cleave.tail.loaded', { description: 'Tail sessions loaded' })
    .addCallback((result) => result.observe(gauges.loadedTails()));
  meter
    .createObservableGauge('cleave.tail.loaded_bytes', { description: 'ONNX bytes of the loaded tails', unit: 'By' })
    .addCallback((result) => result.observe(gauges.loadedTailBytes()));

  let served = 0;
  let droppedCount = 0;
  let batches = 0;
  const failed: Partial<Record<WireErrorCode, number>> = {};
  const tailAttributes = (tail: TailAddress) => ({
    'cleave.model': tail.model,
    'cleave.version': tail.version,
    'cleave.split': tail.split,
  });
  return {
    tracer,
    counts: () => ({ served, failed: { ...failed }, dropped: droppedCount, batches }),
    served(tail, timings) {
      served += 1;
      const attributes = tailAttributes(tail);
      requests.add(1, attributes);
      latency.record(timings.totalMs, { outcome: 'ok' });
      queueTime.record(timings.queueMs, attributes);
    },
    failed(code, totalMs) {
      failed[code] = (failed[code] ?? 0) + 1;
      errors.add(1, { code });
      latency.record(totalMs, { outcome: code });
    },
    dropped(reason) {
      droppedCount += 1;
      dropped.add(1, { reason });
    },
    batch(tail, batch) {
      batches += 1;
      batchSize.record(batch.requests, tailAttributes(tail));
      runTime.record(batch.runMs, tailAttributes(tail));
    },
  };
}
