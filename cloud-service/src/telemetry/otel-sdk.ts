// The OpenTelemetry SDK of a `cleave cloud` or `cleave edge` process: a Prometheus reader for /metrics, and
// OTLP/HTTP export of traces and metrics when an endpoint is configured. Only the cli calls this; everything it
// needs comes in as options (no environment reads, no global registration), and the service or agent receives the
// tracer and meter.
import { type Meter, trace, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TELEMETRY_SCOPE } from './service-telemetry.js';

/** Options of {@link startTelemetrySdk}. */
export interface TelemetrySdkOptions {
  readonly serviceName: string;
  /** `service.instance.id`: the replica name or the agent id. */
  readonly instanceId: string;
  /** OTLP/HTTP base URL (e.g. `http://collector:4318`); traces and metrics are pushed there when set. */
  readonly otlpEndpoint?: string;
  /** @default 10000 */
  readonly metricExportIntervalMs?: number;
  /** Instrumentation scope of the tracer and meter. @default the cloud service's */
  readonly scope?: string;
}

/** A started SDK: what the service records into, and how to read or flush it. */
export interface TelemetrySdk {
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** The current metrics in the Prometheus text format. */
  renderPrometheus(): Promise<string>;
  /** Flushes pending exports and stops. */
  shutdown(): Promise<void>;
}

/** Starts the metrics (and, with an OTLP endpoint, tracing) pipeline. */
export async function startTelemetrySdk(options: TelemetrySdkOptions): Promise<TelemetrySdk> {
  const resource = resourceFromAttributes({
    'service.name': options.serviceName,
    'service.instance.id': options.instanceId,
  });
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  let tracerProvider: BasicTracerProvider | undefined;
  if (options.otlpEndpoint !== undefined) {
    const base = options.otlpEndpoint.replace(/\/+$/, '');
    const { traceExporter, metricExporter } = await loadOtlpExporters(base);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: metricExporter,
        exportIntervalMillis: options.metricExportIntervalMs ?? 10_000,
      }),
    );
    tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(traceExporter)] });
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const serializer = new PrometheusSerializer();
  const scope = options.scope ?? TELEMETRY_SCOPE;
  return {
    // Without an exporter nobody would see the spans: the API's no-op tracer costs nothing per request.
    tracer: tracerProvider?.getTracer(scope) ?? trace.getTracer(scope),
    meter: meterProvider.getMeter(scope),
    async renderPrometheus() {
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    async shutdown() {
      await Promise.allSettled([meterProvider.shutdown(), tracerProvider?.shutdown()]);
    },
  };
}

// Loaded only when OTLP is configured. These exporters ship with @opentelemetry/sdk-node (same release line).
async function loadOtlpExporters(base: string) {
  const [{ OTLPTraceExporter }, { OTLPMetricExporter }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-metrics-otlp-http'),
  ]);
  return {
    traceExporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }),
    metricExporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
  };
}
