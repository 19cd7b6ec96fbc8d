// Gauges read from a status snapshot at each collection, exported with exactly the series observed now. The SDK's
// observable gauges keep every attribute set ever observed (cumulative temporality), so an info series such as
// `split="a"` would stay at 1 after the split became "b"; a MetricProducer has no memory, so stale series vanish.
import type { Attributes } from '@opentelemetry/api';
import { metrics as sdkMetrics, resources } from '@opentelemetry/sdk-node';
import { ValueType } from '@opentelemetry/api';

/** One series of a {@link SnapshotFamily}. */
export interface SnapshotPoint {
  readonly value: number;
  readonly attributes: Attributes;
}

/** A metric family computed from a snapshot: a gauge, or a monotonic counter (exported with `_total`). */
export interface SnapshotFamily {
  /** Prometheus-style name, without `_total` for counters (the exporter appends it). */
  readonly name: string;
  readonly description: string;
  /** UCUM unit (`s`, `By`), when it has one. */
  readonly unit?: string;
  readonly kind: 'gauge' | 'counter';
  readonly points: readonly SnapshotPoint[];
}

/** Where a component registers the families it computes from its own state. */
export interface SnapshotMetrics {
  /** Adds `read` under instrumentation scope `scope`; the returned function removes it. */
  register(scope: string, read: () => readonly SnapshotFamily[]): () => void;
}

/** A registry of snapshot families and the MetricProducer the SDK's readers collect them through. */
export function createSnapshotMetrics(): SnapshotMetrics & { readonly producer: sdkMetrics.MetricProducer } {
  const sources = new Set<{ scope: string; read: () => readonly SnapshotFamily[] }>();
  const producer: sdkMetrics.MetricProducer = {
    collect() {
      const time = hrNow();
      const errors: unknown[] = [];
      const scopeMetrics = [...sources].map(({ scope, read }) => {
        let families: readonly SnapshotFamily[] = [];
        try {
          families = read();
        } catch (error) {
          // A broken reader must not cost the scrape its other metrics.
          errors.push(error);
        }
        return { scope: { name: scope }, metrics: families.map((family) => toMetricData(family, time)) };
      });
      // The reader keeps its own resource; this one is only a placeholder the type asks for.
      return Promise.resolve({ resourceMetrics: { resource: resources.emptyResource(), scopeMetrics }, errors });
    },
  };
  return {
    producer,
    register(scope, read) {
      const source = { scope, read };
      sources.add(source);
      return () => void sources.delete(source);
    },
  };
}

function toMetricData(family: SnapshotFamily, time: [number, number]): sdkMetrics.MetricData {
  const descriptor = {
    name: family.name,
    description: family.description,
    unit: family.unit ?? '',
    valueType: ValueType.DOUBLE,
  };
  const dataPoints = family.points.map((p) => ({
    startTime: time,
    endTime: time,
    attributes: p.attributes,
    value: p.value,
  }));
  return family.kind === 'counter'
    ? {
        descriptor,
        aggregationTemporality: sdkMetrics.AggregationTemporality.CUMULATIVE,
        dataPointType: sdkMetrics.DataPointType.SUM,
        isMonotonic: true,
        dataPoints,
      }
    : {
        descriptor,
        aggregationTemporality: sdkMetrics.AggregationTemporality.CUMULATIVE,
        dataPointType: sdkMetrics.DataPointType.GAUGE,
        dataPoints,
      };
}

function hrNow(): [number, number] {
  const ms = performance.timeOrigin + performance.now();
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}
