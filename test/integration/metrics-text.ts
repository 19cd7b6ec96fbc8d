// Reading Prometheus text and Grafana dashboards in tests: the samples of a /metrics page, and the metric names a
// dashboard's PromQL queries refer to. Pure functions over strings, no server.

/** One sample line of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of a Prometheus text page (comments and blank lines skipped). */
export function parseSamples(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = SAMPLE_LINE.exec(line.trim());
    if (match === null || line.startsWith('#')) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL_PAIR)].map((m) => [m[1]!, m[2]!]));
    return [{ name: match[1]!, labels, value: Number(match[3]) }];
  });
}

/** The series names a page exports: sample names (a histogram's `_bucket`, `_sum`, `_count`) and family names. */
export function exportedSeries(text: string): Set<string> {
  const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  return new Set([...parseSamples(text).map((s) => s.name), ...families]);
}

// PromQL functions, aggregations and keywords: identifiers in a query that are not metric names.
const PROMQL_WORDS = new Set(
  (
    'sum min max avg count stddev stdvar topk bottomk quantile count_values group by without on ignoring ' +
    'group_left group_right and or unless offset bool rate irate increase delta idelta deriv histogram_quantile ' +
    'abs absent absent_over_time ceil floor round clamp clamp_min clamp_max sort sort_desc time vector scalar ' +
    'avg_over_time max_over_time min_over_time sum_over_time count_over_time last_over_time quantile_over_time ' +
    'changes resets predict_linear label_replace label_join inf nan'
  ).split(' '),
);

/**
 * The metric names one PromQL expression reads: identifiers followed by `{`, `[`, `)`, a space or the end, once
 * strings, label matchers, ranges, grouping label lists and Grafana variables are removed, minus PromQL's own words.
 */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1 ');
  const names = [...stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*[{[)]|\s|$)/g)].map((m) => m[1]!);
  return names.filter((name) => !PROMQL_WORDS.has(name));
}

/** Metric names of every query in a Grafana dashboard (panel targets and `label_values` variables), with where. */
export function dashboardMetricNames(dashboard: unknown): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (node: unknown, where: string): void => {
    if (Array.isArray(node)) for (const item of node) visit(item, where);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const here = typeof record['title'] === 'string' ? record['title'] : where;
    if (typeof record['expr'] === 'string') for (const name of promqlMetricNames(record['expr'])) found.set(name, here);
    for (const key of ['query', 'definition']) {
      const value = record[key];
      const variable = typeof value === 'string' ? /label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(value) : null;
      if (variable !== null) {
        const name = typeof record['name'] === 'string' ? record['name'] : here;
        found.set(variable[1]!, `variable ${name}`);
      }
    }
    for (const [key, value] of Object.entries(record)) if (key !== 'expr') visit(value, here);
  };
  visit(dashboard, 'dashboard');
  return found;
}
