// The OpenTelemetry SDK of a Cleave daemon (`cleave cloud`, `cleave edge`), built on @opentelemetry/sdk-node's
// NodeSDK: resource detection (env, process, host), the standard OTEL_* variables, one orderly shutdown. Metrics
// always have a Prometheus reader for /metrics; traces and metrics are also pushed over OTLP/HTTP when an endpoint
// is configured. Only a daemon's command calls this, once per process: NodeSDK registers the global providers.
import { type Meter, metrics, trace, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { metrics as sdkMetrics, NodeSDK, resources } from '@opentelemetry/sdk-node';
import { registerProcessMetrics } from './process-metrics.js';
import { createSnapshotMetrics, type SnapshotMetrics } from './snapshot-metrics.js';

/** Options of {@link startTelemetrySdk}. */
export interface TelemetrySdkOptions {
  /** Instrumentation scope of the tracer and meter, e.g. `cleave-cloud`. */
  readonly scope: string;
  readonly serviceName: string;
  /** `service.instance.id`: the replica name or the agent id. */
  readonly instanceId: string;
  /**
   * The label naming this daemon on its process metrics, e.g. `{ agent: 'gw-1' }` or `{ replica: 'A' }`: the same
   * label its own series carry, so a dashboard joins them without relabelling.
   */
  readonly instanceAttributes?: Readonly<Record<string, string>>;
  /** OTLP/HTTP base URL (e.g. `http://collector:4318`); traces and metrics are pushed there when set. */
  readonly otlpEndpoint?: string;
  /** @default 10000 */
  readonly metricExportIntervalMs?: number;
  /**
   * The process environment, read for the standard OTEL_* switches that decide whether tracing is on without an
   * explicit endpoint (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). NodeSDK itself also reads them.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A started SDK: what the daemon records into, and how to read or flush it. */
export interface TelemetrySdk {
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** Families computed from a status snapshot at each collection (no stale series), on every metric reader. */
  readonly snapshots: SnapshotMetrics;
  /** The current metrics in the Prometheus text format. */
  renderPrometheus(): Promise<string>;
  /** Flushes pending exports and stops. */
  shutdown(): Promise<void>;
}

/** Starts the metrics (and, with an OTLP endpoint, tracing) pipeline and registers it globally. */
export async function startTelemetrySdk(options: TelemetrySdkOptions): Promise<TelemetrySdk> {
  const env = options.env ?? {};
  const snapshots = createSnapshotMetrics();
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [snapshots.producer] });
  const readers: sdkMetrics.IMetricReader[] = [prometheus];
  const exporters = options.otlpEndpoint === undefined ? undefined : await loadOtlpExporters(options.otlpEndpoint);
  if (exporters !== undefined) {
    readers.push(
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: exporters.metricExporter,
        exportIntervalMillis: options.metricExportIntervalMs ?? 10_000,
        metricProducers: [snapshots.producer],
      }),
    );
  }
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    resource: resources.resourceFromAttributes({ 'service.instance.id': options.instanceId }),
    metricReaders: readers,
    // Without an exporter nobody would see the spans: no span processor means no tracer provider is registered,
    // and the API's no-op tracer costs nothing per request. OTEL_TRACES_EXPORTER still lets NodeSDK choose one.
    ...(exporters !== undefined
      ? { traceExporter: exporters.traceExporter }
      : tracingFromEnv(env)
        ? {}
        : { spanProcessors: [] }),
    // Cleave logs JSON lines with pino; no OTLP log pipeline (NodeSDK would default to one).
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  const meter = metrics.getMeter(options.scope);
  registerProcessMetrics(meter, options.instanceAttributes);
  const serializer = new PrometheusSerializer();
  return {
    tracer: trace.getTracer(options.scope),
    meter,
    snapshots,
    async renderPrometheus() {
      // With OTEL_SDK_DISABLED=true NodeSDK starts nothing, so the reader was never bound: nothing to render.
      const collected = await prometheus.collect().catch(() => undefined);
      return collected === undefined ? '' : serializer.serialize(collected.resourceMetrics);
    },
    async shutdown() {
      await sdk.shutdown().catch(() => undefined);
    },
  };
}

function tracingFromEnv(env: Readonly<Record<string, string | undefined>>): boolean {
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim();
  if (exporter !== undefined && exporter !== '') return exporter !== 'none';
  return (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? '') !== '';
}

// Loaded only when OTLP is configured. These exporters ship with @opentelemetry/sdk-node (same release line).
async function loadOtlpExporters(endpoint: string) {
  const base = endpoint.replace(/\/+$/, '');
  const [{ OTLPTraceExporter }, { OTLPMetricExporter }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-metrics-otlp-http'),
  ]);
  return {
    traceExporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }),
    metricExporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
  };
}
