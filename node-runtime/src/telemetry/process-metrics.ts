// Process metrics under the names the Prometheus client libraries use (`process_*`, `nodejs_*`), so standard
// dashboards and alerts work on a Cleave daemon. A handful of observables instead of a runtime instrumentation
// package: they read what Node already keeps (cpuUsage, memoryUsage, an event-loop delay histogram) at scrape time.
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Attributes, Meter } from '@opentelemetry/api';

/** Registers the process observables on `meter`; every series carries `attributes` (e.g. `{ agent }`). */
export function registerProcessMetrics(meter: Meter, attributes: Attributes = {}): void {
  const startSeconds = (performance.timeOrigin + 0) / 1000;
  // The histogram samples with a timer of this period. At the usual 10 ms it woke an idle edge agent 100 times a
  // second and cost it 4–6 CPU ms per second (perf stat over 10 s: 137–168 ms of task-clock, 97–112 ms at 100 ms),
  // on devices whose whole CPU may be a tenth of a core. At 100 ms a stall still shows in the p99 once it spans a
  // tick.
  const loopDelay = monitorEventLoopDelay({ resolution: 100 });
  loopDelay.enable();
  meter
    .createObservableCounter('process_cpu_user_seconds', { description: 'User CPU time spent', unit: 's' })
    .addCallback((r) => r.observe(process.cpuUsage().user / 1e6, attributes));
  meter
    .createObservableCounter('process_cpu_system_seconds', { description: 'System CPU time spent', unit: 's' })
    .addCallback((r) => r.observe(process.cpuUsage().system / 1e6, attributes));
  meter
    .createObservableCounter('process_cpu_seconds', { description: 'User and system CPU time spent', unit: 's' })
    .addCallback((r) => {
      const { user, system } = process.cpuUsage();
      r.observe((user + system) / 1e6, attributes);
    });
  meter
    .createObservableGauge('process_resident_memory_bytes', { description: 'Resident memory size', unit: 'By' })
    .addCallback((r) => r.observe(process.memoryUsage.rss(), attributes));
  meter
    .createObservableGauge('process_start_time_seconds', {
      description: 'Start time of the process since the Unix epoch',
      unit: 's',
    })
    .addCallback((r) => r.observe(startSeconds, attributes));
  meter.createObservableGauge('process_open_fds', { description: 'Open file descriptors' }).addCallback((r) => {
    const fds = openFileDescriptors();
    if (fds !== undefined) r.observe(fds, attributes);
  });
  meter
    .createObservableGauge('nodejs_heap_size_used_bytes', { description: 'V8 heap in use', unit: 'By' })
    .addCallback((r) => r.observe(process.memoryUsage().heapUsed, attributes));
  meter
    .createObservableGauge('nodejs_heap_size_total_bytes', { description: 'V8 heap allocated', unit: 'By' })
    .addCallback((r) => r.observe(process.memoryUsage().heapTotal, attributes));
  meter
    .createObservableGauge('nodejs_eventloop_delay_p99_seconds', {
      description: 'p99 event-loop delay since the previous scrape',
      unit: 's',
    })
    .addCallback((r) => {
      // Reset per scrape: the value describes the last interval, not the process's whole life.
      const p99 = loopDelay.count === 0 ? 0 : loopDelay.percentile(99) / 1e9;
      loopDelay.reset();
      r.observe(p99, attributes);
    });
}

// Linux only (/proc); elsewhere the series is simply absent.
function openFileDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}
