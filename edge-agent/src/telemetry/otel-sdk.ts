// The OpenTelemetry SDK of a `cleave edge` process: a Prometheus reader for /metrics, and OTLP/HTTP export of
// traces and metrics when an endpoint is configured. Only the cli calls this; the agent receives the tracer and
// meter and never registers anything globally.
import { type Meter, trace, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { EDGE_TELEMETRY_SCOPE } from './edge-telemetry.js';

/** Options of {@link startEdgeTelemetrySdk}. */
export interface EdgeTelemetrySdkOptions {
  readonly serviceName: string;
  /** `service.instance.id`: the agent id. */
  readonly instanceId: string;
  /** OTLP/HTTP base URL (e.g. `http://collector:4318`); traces and metrics are pushed there when set. */
  readonly otlpEndpoint?: string;
  /** @default 10000 */
  readonly metricExportIntervalMs?: number;
}

/** A started SDK. */
export interface EdgeTelemetrySdk {
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** The current metrics in the Prometheus text format. */
  renderPrometheus(): Promise<string>;
  /** Flushes pending exports and stops. */
  shutdown(): Promise<void>;
}

/** Starts the metrics (and, with an OTLP endpoint, tracing) pipeline. */
export async function startEdgeTelemetrySdk(options: EdgeTelemetrySdkOptions): Promise<EdgeTelemetrySdk> {
  const resource = resourceFromAttributes({
    'service.name': options.serviceName,
    'service.instance.id': options.instanceId,
  });
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  let tracerProvider: BasicTracerProvider | undefined;
  if (options.otlpEndpoint !== undefined) {
    const base = options.otlpEndpoint.replace(/\/+$/, '');
    const [{ OTLPTraceExporter }, { OTLPMetricExporter }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
        exportIntervalMillis: options.metricExportIntervalMs ?? 10_000,
      }),
    );
    tracerProvider = new BasicTracerProvider({
      resource,
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` }))],
    });
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const serializer = new PrometheusSerializer();
  return {
    // Without an exporter nobody would see the spans: the API's no-op tracer costs nothing per request.
    tracer: tracerProvider?.getTracer(EDGE_TELEMETRY_SCOPE) ?? trace.getTracer(EDGE_TELEMETRY_SCOPE),
    meter: meterProvider.getMeter(EDGE_TELEMETRY_SCOPE),
    async renderPrometheus() {
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    async shutdown() {
      await Promise.allSettled([meterProvider.shutdown(), tracerProvider?.shutdown()]);
    },
  };
}
