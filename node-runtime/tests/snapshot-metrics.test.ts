// Snapshot families and process metrics through the real OpenTelemetry Prometheus exporter: a series not observed
// at this collection is gone (no stale info series), counters get `_total`, process metrics use Prometheus names.
import { describe, expect, it } from 'vitest';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { metrics as sdkMetrics } from '@opentelemetry/sdk-node';
import { registerProcessMetrics } from '../src/telemetry/process-metrics.js';
import { createSnapshotMetrics, type SnapshotFamily } from '../src/telemetry/snapshot-metrics.js';

function pipeline() {
  const snapshots = createSnapshotMetrics();
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [snapshots.producer] });
  const provider = new sdkMetrics.MeterProvider({ readers: [exporter] });
  const serializer = new PrometheusSerializer();
  const render = async () => serializer.serialize((await exporter.collect()).resourceMetrics);
  return { snapshots, provider, render };
}

const sampleLines = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

describe('snapshot metrics', () => {
  it('export exactly the series observed at this collection', async () => {
    const { snapshots, render } = pipeline();
    let split = 'a';
    const info = (): SnapshotFamily[] => [
      {
        name: 'test_model_info',
        description: 'what runs',
        kind: 'gauge',
        points: [{ value: 1, attributes: { split } }],
      },
    ];
    snapshots.register('test-scope', info);
    expect(sampleLines(await render()).filter((l) => l.startsWith('test_model_info'))).toEqual([
      'test_model_info{split="a",otel_scope_name="test-scope"} 1',
    ]);
    split = 'b';
    const after = sampleLines(await render()).filter((l) => l.startsWith('test_model_info'));
    console.log(`snapshot metrics: after a split change ${after.length} info series: ${after.join(' ')}`);
    expect(after).toEqual(['test_model_info{split="b",otel_scope_name="test-scope"} 1']);
  });

  it('export counters with _total, and stop exporting a family once unregistered', async () => {
    const { snapshots, render } = pipeline();
    const unregister = snapshots.register('s', () => [
      { name: 'test_probes', description: 'probes', kind: 'counter', points: [{ value: 3, attributes: {} }] },
    ]);
    expect(await render()).toMatch(/^# TYPE test_probes_total counter$/m);
    expect(await render()).toMatch(/^test_probes_total\{otel_scope_name="s"\} 3$/m);
    unregister();
    expect(await render()).not.toMatch(/test_probes/);
  });

  it('keep a reader that throws from costing the scrape its other families', async () => {
    const { snapshots, render } = pipeline();
    snapshots.register('bad', () => {
      throw new Error('status unavailable');
    });
    snapshots.register('good', () => [
      { name: 'test_up', description: 'up', kind: 'gauge', points: [{ value: 1, attributes: {} }] },
    ]);
    expect(await render()).toMatch(/^test_up\{otel_scope_name="good"\} 1$/m);
  });
});

describe('process metrics', () => {
  it('use the Prometheus client names and carry the instance label', async () => {
    const { provider, render } = pipeline();
    registerProcessMetrics(provider.getMeter('p'), { agent: 'gw-1' });
    const text = await render();
    const names = new Set(sampleLines(text).map((l) => l.split('{')[0]));
    console.log(`process metrics: ${[...names].join(', ')}`);
    for (const name of [
      'process_cpu_seconds_total',
      'process_cpu_user_seconds_total',
      'process_cpu_system_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_eventloop_delay_p99_seconds',
    ]) {
      expect(names).toContain(name);
    }
    const rss = /^process_resident_memory_bytes\{agent="gw-1",otel_scope_name="p"\} (\d+)$/m.exec(text);
    expect(Number(rss?.[1])).toBeGreaterThan(1e6);
    const start = Number(/^process_start_time_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1]);
    expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(3600);
  });
});
