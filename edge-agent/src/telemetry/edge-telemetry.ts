// The agent's spans and per-request metrics, on the OpenTelemetry API only: the cli decides which SDK (if any)
// receives them. Without one, the API's no-op tracer and meter cost next to nothing per request.
// Names follow Prometheus conventions as the OTel exporter prints them: it appends `_total` to counters but does
// not turn a unit into a suffix, so `_seconds` and `_bytes` are part of the names. Every series carries `agent`,
// and request series `model`, `version`, `split`: the same label names as the cloud's (`replica` there).
import { type Attributes, type Meter, metrics, trace, type Tracer } from '@opentelemetry/api';
import { LATENCY_BUCKETS_SECONDS, msToSeconds } from '@cleave/node-runtime';
import { EdgeErrorCode } from '../edge-agent-error.js';
import { FALLBACK_REASONS } from '../runtime/offload-client.js';
import type { RanOn } from './request-stats.js';

/** Instrumentation scope of the agent's spans and metrics. */
export const EDGE_TELEMETRY_SCOPE = '@cleave/edge-agent';

/** What {@link EdgeTelemetry.answered} reads of a request's result (an InferResult fits). */
export interface AnsweredRequest {
  readonly model: string;
  readonly version: string;
  readonly split: string;
  readonly ranOn: RanOn;
  readonly exit: string | null;
  readonly fallbackReason: string | null;
  readonly timings: { readonly totalMs: number };
  readonly bytes: { readonly sent: number; readonly received: number };
}

/** What the agent records besides spans. */
export interface EdgeTelemetry {
  readonly tracer: Tracer;
  /** One answered request. */
  answered(request: AnsweredRequest): void;
  /** One request answered with an error, by code. */
  refused(code: EdgeErrorCode): void;
  /** One controller switch. */
  switched(model: string): void;
  /**
   * The agent serves `split` of `model@version` from now on: its request, exit and fallback series start at 0, so
   * rate() and alerts see them before the first event (exit names are known only once a bundle is loaded).
   */
  serving(decision: ServedDecision): void;
}

/** What {@link EdgeTelemetry.serving} reads of a decision (a controller Decision fits). */
export interface ServedDecision {
  readonly model: string;
  readonly version: string;
  readonly split: string;
  readonly tailOn: 'cloud' | 'edge';
  /** Exit name → threshold: the exits this split's head computes. */
  readonly thresholds: Readonly<Record<string, number | null>>;
}

/** Options of {@link createEdgeTelemetry}. */
export interface EdgeTelemetryOptions {
  /** The `agent` label of every series. */
  readonly agentId: string;
  /** Models configured: their switch counters start at 0. */
  readonly models: readonly string[];
  /** @default the global tracer (a no-op without an SDK) */
  readonly tracer?: Tracer;
  /** @default the global meter (a no-op without an SDK) */
  readonly meter?: Meter;
}

/** Creates the instruments on `meter` and uses `tracer`. Error and switch counters start at 0 for every code/model. */
export function createEdgeTelemetry(options: EdgeTelemetryOptions): EdgeTelemetry {
  const meter = options.meter ?? metrics.getMeter(EDGE_TELEMETRY_SCOPE);
  const tracer = options.tracer ?? trace.getTracer(EDGE_TELEMETRY_SCOPE);
  const agent = options.agentId;
  const requests = meter.createCounter('cleave_edge_requests', {
    description: 'Requests answered, by where the part after the head ran (edge, cloud, fallback)',
  });
  const exits = meter.createCounter('cleave_edge_exits', {
    description: 'Requests answered by an early exit, by exit',
  });
  const fallbacks = meter.createCounter('cleave_edge_fallbacks', {
    description: 'Requests whose tail ran locally instead of in the cloud, by reason',
  });
  const errors = meter.createCounter('cleave_edge_errors', { description: 'Requests refused, by error code' });
  const switches = meter.createCounter('cleave_edge_switches', { description: 'Controller switches, by model' });
  const sent = meter.createCounter('cleave_edge_sent_bytes', {
    description: 'Cut-tensor bytes sent to the cloud',
    unit: 'By',
  });
  const received = meter.createCounter('cleave_edge_received_bytes', {
    description: 'Reply bytes received from the cloud',
    unit: 'By',
  });
  const duration = meter.createHistogram('cleave_edge_request_duration_seconds', {
    description: 'Time from a request arriving to its answer',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_SECONDS] },
  });
  // Present from the start, so rate() and alerts see a 0 before the first error instead of no series at all.
  for (const code of Object.values(EdgeErrorCode)) errors.add(0, { agent, code });
  for (const model of options.models) switches.add(0, { agent, model });
  return {
    tracer,
    answered(request) {
      const tail: Attributes = { agent, model: request.model, version: request.version, split: request.split };
      requests.add(1, { ...tail, ran_on: request.ranOn });
      duration.record(msToSeconds(request.timings.totalMs), { ...tail, ran_on: request.ranOn });
      if (request.exit !== null) exits.add(1, { ...tail, exit: request.exit });
      if (request.fallbackReason !== null) fallbacks.add(1, { ...tail, reason: request.fallbackReason });
      if (request.bytes.sent > 0) sent.add(request.bytes.sent, tail);
      if (request.bytes.received > 0) received.add(request.bytes.received, tail);
    },
    refused(code) {
      errors.add(1, { agent, code });
    },
    switched(model) {
      switches.add(1, { agent, model });
    },
    serving(decision) {
      const tail: Attributes = { agent, model: decision.model, version: decision.version, split: decision.split };
      const where: readonly RanOn[] = decision.tailOn === 'cloud' ? ['edge', 'cloud', 'fallback'] : ['edge'];
      for (const ranOn of where) requests.add(0, { ...tail, ran_on: ranOn });
      for (const exit of Object.keys(decision.thresholds)) exits.add(0, { ...tail, exit });
      if (decision.tailOn === 'cloud') for (const reason of FALLBACK_REASONS) fallbacks.add(0, { ...tail, reason });
    },
  };
}
