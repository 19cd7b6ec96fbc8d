// What the demo reports per gateway: counts, where requests ran, latency percentiles and accuracy so far, and
// the plain aligned text table they are printed in (live and at the end).
import type { ClientResult } from '@cleave/edge-agent';
import { quantileOrNaN } from '@cleave/proto';

// Latencies kept per gateway: enough for stable percentiles in a long run, bounded memory in an endless one.
const MAX_SAMPLES = 20_000;

/** Running statistics of one gateway. */
export interface AgentStats {
  requests: number;
  correct: number;
  exits: number;
  offloads: number;
  fallbacks: number;
  errors: number;
  bytesSent: number;
  /** Split of the latest answer. */
  split: string;
  /** Where the latest answer no exit gave ran its tail: on the device (staged by plan), or offloaded. */
  tailOn: 'edge' | 'cloud' | undefined;
  /** Answers per split, e.g. { 'split-11': 120, 'edge-only': 4 }. */
  splits: Record<string, number>;
  /** Last error message, for the log. */
  lastError: string | undefined;
  readonly latencies: number[];
  /** Next slot to overwrite once `latencies` is full. */
  cursor: number;
}

/** Empty statistics. */
export function createAgentStats(): AgentStats {
  return {
    requests: 0,
    correct: 0,
    exits: 0,
    offloads: 0,
    fallbacks: 0,
    errors: 0,
    bytesSent: 0,
    split: '-',
    tailOn: undefined,
    splits: {},
    lastError: undefined,
    latencies: [],
    cursor: 0,
  };
}

/** Index of the largest value. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Adds one answer: `label` is the image's true class, `latencyMs` what the application waited. */
export function recordAnswer(stats: AgentStats, result: ClientResult, label: number, latencyMs: number): void {
  stats.requests += 1;
  const output = Object.values(result.outputs)[0];
  if (output !== undefined && argmax(output.data as ArrayLike<number>) === label) stats.correct += 1;
  if (result.exit !== null) stats.exits += 1;
  if (result.ranOn === 'cloud') stats.offloads += 1;
  if (result.ranOn === 'fallback') stats.fallbacks += 1;
  stats.bytesSent += result.bytes.sent;
  if (result.split !== stats.split) stats.tailOn = undefined;
  stats.split = result.split;
  if (result.exit === null && result.split.startsWith('split'))
    stats.tailOn = result.ranOn === 'edge' ? 'edge' : 'cloud';
  stats.splits[result.split] = (stats.splits[result.split] ?? 0) + 1;
  if (stats.latencies.length < MAX_SAMPLES) stats.latencies.push(latencyMs);
  else {
    stats.latencies[stats.cursor] = latencyMs;
    stats.cursor = (stats.cursor + 1) % MAX_SAMPLES;
  }
}

/** Adds one failed request. */
export function recordError(stats: AgentStats, error: unknown): void {
  stats.errors += 1;
  stats.lastError = error instanceof Error ? error.message : String(error);
}

/** One summary row, as plain values (also what the JSON progress lines carry). */
export interface SummaryRow {
  readonly agent: string;
  readonly link: string;
  readonly power: string;
  readonly split: string;
  readonly requests: number;
  readonly exitRate: number;
  readonly offloads: number;
  readonly fallbacks: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly accuracy: number;
}

/** Builds a row from statistics and the gateway's description. */
export function summaryRow(agent: string, link: string, power: string, stats: AgentStats): SummaryRow {
  const share = (n: number) => (stats.requests === 0 ? 0 : n / stats.requests);
  return {
    agent,
    link,
    power,
    split: stats.tailOn === 'edge' ? `${stats.split}, tail on edge` : stats.split,
    requests: stats.requests,
    exitRate: share(stats.exits),
    offloads: stats.offloads,
    fallbacks: stats.fallbacks,
    errors: stats.errors,
    // The shared nearest-rank quantiles, as the benches report them; NaN (printed "-") before the first answer.
    p50Ms: quantileOrNaN(stats.latencies, 0.5),
    p95Ms: quantileOrNaN(stats.latencies, 0.95),
    accuracy: share(stats.correct),
  };
}

const HEADERS = ['agent', 'link', 'power', 'split', 'requests', 'exit rate', 'offloads', 'fallbacks', 'errors'];
const HEADERS_TAIL = ['p50 ms', 'p95 ms', 'accuracy'];

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function ms(x: number): string {
  return Number.isNaN(x) ? '-' : x.toFixed(1);
}

/** Renders rows as an aligned text table: text columns left-aligned, numbers right-aligned. */
export function formatSummaryTable(rows: readonly SummaryRow[]): string {
  const cells = rows.map((r) => [
    r.agent,
    r.link,
    r.power,
    r.split,
    String(r.requests),
    pct(r.exitRate),
    String(r.offloads),
    String(r.fallbacks),
    String(r.errors),
    ms(r.p50Ms),
    ms(r.p95Ms),
    pct(r.accuracy),
  ]);
  return formatTable([...HEADERS, ...HEADERS_TAIL], cells, 4);
}

/** An aligned plain-text table; columns from `firstNumeric` on are right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly string[][], firstNumeric: number): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i >= firstNumeric ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}
