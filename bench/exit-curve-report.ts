/**
 * Pure parts of `npm run bench:exits`: whether a model gets an exit curve at all (its task must have a confidence,
 * and an exit can stand in for one final output only), what the curve measures (accuracy against labels, pixel
 * accuracy for segmentation, or agreement with the full model on unlabelled data) and the table. Unit-tested in
 * bench/exit-curve-report.test.ts.
 */
import { type Task, taskHasConfidence } from '@cleave/proto';

/** What the curve's accuracy is measured against: the data's labels, or the full model's own answers. */
export type CurveReference = 'labels' | 'agreement';

/**
 * Whether a model gets an exit curve: `null` when it does, else the line to print instead (`splits only ...`), for
 * a task without a confidence, several final outputs, or no exits at all.
 */
export function splitsOnlyReason(task: Task, finals: readonly string[], exits: readonly string[]): string | null {
  if (!taskHasConfidence(task)) return `splits only (no early exits for ${task} models)`;
  if (finals.length !== 1) {
    return `splits only (an exit cannot stand in for ${finals.length} final outputs: ${finals.join(', ')})`;
  }
  if (exits.length === 0) return 'splits only (no exit outputs, and no post-hoc exits for this task)';
  return null;
}

/** What the curve's accuracy column measures. */
export function curveMetric(task: Task, reference: CurveReference): string {
  if (reference === 'agreement') return 'agreement with the full model';
  return task === 'segmentation' ? 'pixel accuracy' : 'accuracy';
}

/** Outputs that follow the `exit*` naming convention, when at least one other output remains (as `prepareModel`). */
export function conventionalExits(outputs: readonly string[]): string[] {
  const exits = outputs.filter((n) => /^exit/i.test(n));
  return exits.length < outputs.length ? exits : [];
}

/** A markdown table, columns padded to their widest cell. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    '| ' + widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)];
}
