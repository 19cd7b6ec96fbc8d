import type { CandidateCost, ExitCalibration, ExitReport, Plan } from '@cleave/partitioner';

const fmtMbps = (x: number | null): string => (x === null ? '∞' : x < 10 ? x.toFixed(3) : x.toFixed(1));

/** Prints the plan's bandwidth ranges per objective as an aligned text table on stdout. */
export function printPlanTable(plan: Plan): void {
  const rows = [['objective', 'from Mbps', 'to Mbps', 'candidate', 'tail on', 'codec', 'latency ms', 'edge mJ']];
  for (const r of plan.ranges) {
    rows.push([
      r.objective,
      fmtMbps(r.minMbps),
      fmtMbps(r.maxMbps),
      r.candidate,
      r.tailOn ?? (r.candidate === 'edge-only' ? 'edge' : 'cloud'),
      r.tailOn === 'edge' ? '-' : r.codec,
      r.expectedLatencyMs.toFixed(2),
      (r.expectedEdgeJoules * 1000).toFixed(2),
    ]);
  }
  printRows(rows);
}

/** Prints ranked costs at one bandwidth. */
export function printCostTable(mbps: number, costs: readonly CandidateCost[], limit: number): void {
  process.stdout.write(`\nat ${mbps} Mbps (best first)\n`);
  const rows = [
    ['candidate', 'tail on', 'codec', 'edge ms', 'transfer ms', 'rtt ms', 'cloud ms', 'total ms', 'edge mJ', 'bytes'],
  ];
  for (const c of costs.slice(0, limit)) {
    rows.push([
      c.candidate,
      c.tailOn === 'edge' || c.candidate === 'edge-only' ? 'edge' : 'cloud',
      c.tailOn === 'edge' || c.candidate === 'edge-only' ? '-' : c.codec,
      c.edgeMs.toFixed(2),
      c.transferMs.toFixed(2),
      c.rttMs.toFixed(1),
      c.cloudMs.toFixed(2),
      c.latencyMs.toFixed(2),
      (c.edgeJoules * 1000).toFixed(2),
      String(c.payloadBytes),
    ]);
  }
  printRows(rows);
}

/** Writes rows as space-aligned columns. */
export function printRows(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    process.stdout.write(
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd() + '\n',
    );
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** Prints, per exit, how often it answers, how well, and how much edge compute those answers skip. */
export function printExitReport(calibration: ExitCalibration, exits: readonly ExitReport[]): void {
  const op = calibration.operatingPoint;
  process.stdout.write(
    `\nearly exits (${calibration.measure}, budget ${calibration.budgetPoints} pt, calibrated on ${calibration.samples} held-out samples)\n`,
  );
  const rows = [['exit', 'kind', 'threshold', 'exit rate', 'accuracy of exited', 'edge compute skipped']];
  for (const e of exits) {
    const t = op.thresholds[e.output];
    rows.push([
      e.output,
      e.kind,
      t === null || t === undefined ? 'never' : t.toFixed(4),
      pct(e.rate),
      pct(e.accuracyOfExited),
      pct(e.computeSkipped),
    ]);
  }
  printRows(rows);
  const saved = exits.reduce((s, e) => s + e.rate * e.computeSkipped, 0);
  process.stdout.write(
    `overall: ${pct(op.exitRate)} answered early, accuracy ${pct(op.accuracy)} vs ${pct(calibration.finalAccuracy)} for the final output alone ` +
      `(${((op.accuracy - calibration.finalAccuracy) * 100).toFixed(2)} pt); mean edge compute saved ${pct(saved)} when the agent stops at the exit\n`,
  );
}
