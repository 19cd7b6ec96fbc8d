/** Renders the side-by-side results: a markdown table per model and a latency-vs-bandwidth SVG plot. */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { STRATEGIES, STRATEGY_LABELS, type BandwidthRow, type Strategy } from './cell-stats.js';
import type { TargetResult } from './grid-targets.js';

/** Per cell extras shown in the table, keyed by {@link cellKey}: how requests were answered, the static split's choice. */
export type CellNotes = Readonly<Record<string, Partial<Record<Strategy, string>>>>;

/** The key of a (device, uplink) cell in notes and logs. */
export function cellKey(row: Pick<BandwidthRow, 'device' | 'mbps'>): string {
  return `${row.device}@${row.mbps}`;
}

const num = (x: number | null, digits: number): string => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Bytes with a unit that keeps three significant figures. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  if (bytes < 1000) return `${bytes.toFixed(0)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toPrecision(3)} kB`;
  return `${(bytes / 1e6).toPrecision(3)} MB`;
}

/** Milliseconds with precision that suits the size. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

/** One markdown table for a model: a row per (device, bandwidth, strategy); Cleave's row shows the planner's prediction. */
export function markdownTable(rows: readonly BandwidthRow[], notes: CellNotes, withAccuracy: boolean): string {
  const header = [
    'device',
    'Mbps',
    'strategy',
    'n',
    'p50 ms',
    'predicted ms',
    'p95 ms',
    ...(withAccuracy ? ['accuracy %'] : []),
    'bytes/req',
    'edge mJ/req',
    'edge CPU ms/req',
    'answered by',
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((h) => (h === 'device' || h === 'strategy' || h === 'answered by' ? '---' : '---:')).join('|')}|`,
  ];
  for (const row of rows) {
    for (const s of STRATEGIES) {
      const c = row.cells[s];
      if (c === undefined) continue;
      const cells = [
        row.device,
        String(row.mbps),
        s === 'cleave' ? `**${STRATEGY_LABELS[s]}**` : STRATEGY_LABELS[s],
        String(c.n),
        formatMs(c.p50Ms),
        s === 'cleave' && row.cleavePredictedMs !== undefined ? formatMs(row.cleavePredictedMs) : '',
        formatMs(c.p95Ms),
        ...(withAccuracy ? [num(c.accuracyPct, 2)] : []),
        formatBytes(c.bytesPerRequest),
        num(c.edgeMilliJoules, 2),
        formatMs(c.edgeCpuMsPerRequest),
        notes[cellKey(row)]?.[s] ?? '',
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** The targets as PASS/MISS lines. */
export function targetLines(model: string, targets: readonly TargetResult[]): string[] {
  return targets.map(
    (t) => `${t.id === 'wins' ? 'COUNT' : t.pass ? 'PASS' : 'MISS'} [${model}] (${t.id}) ${t.description}: ${t.detail}`,
  );
}

/** An SVG plot of p50 latency against bandwidth (both log scales), one line per strategy. */
export async function latencyPlotSvg(model: string, rows: readonly BandwidthRow[], subtitle: string): Promise<string> {
  const values = rows.flatMap((r) =>
    STRATEGIES.flatMap((s) => {
      const c = r.cells[s];
      return c === undefined || !Number.isFinite(c.p50Ms)
        ? []
        : [{ mbps: r.mbps, strategy: STRATEGY_LABELS[s], p50: Math.max(c.p50Ms, 0.01) }];
    }),
  );
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${model}: p50 latency vs uplink bandwidth`, subtitle },
    width: 560,
    height: 340,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'mbps',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'bandwidth (Mbit/s, log)',
        axis: { values: rows.map((r) => r.mbps) },
      },
      y: { field: 'p50', type: 'quantitative', scale: { type: 'log' }, title: 'p50 latency (ms, log)' },
      color: {
        field: 'strategy',
        type: 'nominal',
        sort: STRATEGIES.map((s) => STRATEGY_LABELS[s]),
        legend: { orient: 'bottom', columns: 2, labelLimit: 400 },
      },
      strokeDash: {
        condition: { test: `datum.strategy === '${STRATEGY_LABELS.cleave}'`, value: [1, 0] },
        value: [4, 2],
      },
      strokeWidth: { condition: { test: `datum.strategy === '${STRATEGY_LABELS.cleave}'`, value: 3 }, value: 1.5 },
    },
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
