// The agent's spans and metrics, on the OpenTelemetry API only: the cli decides which SDK (if any) receives them.
// Without one, the API's no-op tracer and meter cost next to nothing per request.
import { type Meter, metrics, trace, type Tracer } from '@opentelemetry/api';
import type { RanOn } from './request-stats.js';

/** Instrumentation scope of the agent's spans and metrics. */
export const EDGE_TELEMETRY_SCOPE = '@cleave/edge-agent';

const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** What the agent records besides spans. */
export interface EdgeTelemetry {
  readonly tracer: Tracer;
  /** One answered request. */
  answered(model: string, ranOn: RanOn, fallbackReason: string | null, totalMs: number, bytesSent: number): void;
  /** One request answered with an error, by code. */
  refused(code: string): void;
  /** One controller switch. */
  switched(model: string): void;
}

/** Creates the instruments on `meter` and uses `tracer` (both default to the global no-op API). */
export function createEdgeTelemetry(options: { readonly tracer?: Tracer; readonly meter?: Meter } = {}): EdgeTelemetry {
  const meter = options.meter ?? metrics.getMeter(EDGE_TELEMETRY_SCOPE);
  const tracer = options.tracer ?? trace.getTracer(EDGE_TELEMETRY_SCOPE);
  const requests = meter.createCounter('cleave.edge.requests', {
    description: 'Requests answered, by model and where the rest ran (edge, cloud, fallback)',
  });
  const fallbacks = meter.createCounter('cleave.edge.fallbacks', {
    description: 'Requests whose tail ran locally instead of in the cloud, by reason',
  });
  const errors = meter.createCounter('cleave.edge.errors', { description: 'Requests refused, by error code' });
  const switches = meter.createCounter('cleave.edge.switches', { description: 'Controller switches, by model' });
  const bytes = meter.createCounter('cleave.edge.bytes_sent', { description: 'Cut-tensor bytes sent', unit: 'By' });
  const latency = meter.createHistogram('cleave.edge.latency_ms', {
    description: 'Time from a request arriving to its answer',
    unit: 'ms',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS },
  });
  return {
    tracer,
    answered(model, ranOn, fallbackReason, totalMs, bytesSent) {
      requests.add(1, { model, ran_on: ranOn });
      if (fallbackReason !== null) fallbacks.add(1, { model, reason: fallbackReason });
      if (bytesSent > 0) bytes.add(bytesSent, { model });
      latency.record(totalMs, { model, ran_on: ranOn });
    },
    refused(code) {
      errors.add(1, { code });
    },
    switched(model) {
      switches.add(1, { model });
    },
  };
}
