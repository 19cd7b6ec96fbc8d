/**
 * Early-exit curve on Fashion-MNIST: thresholds are calibrated on the last 5,000 train images
 * (post-hoc heads train on the first 20,000), then applied unchanged to t10k. One table per
 * model (built-in exits, and Cleave's post-hoc exits on the backbone-only model) at several
 * accuracy budgets, side by side.
 *
 * Usage: npm run bench:exits
 */
import { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { loadMnistSplit, prepareModel, type CalibrationSet } from '@cleave/partitioner';
import { measureExitPolicy } from '../test/harness/exit-evaluation.js';

const budgets = [0, 0.5, 1, 2, 3];
const [train, t10k] = await Promise.all([loadMnistSplit('train'), loadMnistSplit('t10k')]);
const calibration: CalibrationSet = { data: train, source: 'train', trainSamples: 20_000, holdoutSamples: 5_000 };
const pct = (x: number): string => (x * 100).toFixed(2);

const rows: string[][] = [];
for (const [label, path] of [
  ['built-in exits (fmnist-exits.onnx)', EXAMPLE_MODEL_WITH_EXITS],
  ['post-hoc exits (fmnist.onnx + Cleave heads)', EXAMPLE_MODEL_BACKBONE],
] as const) {
  const t0 = performance.now();
  const prepared = await prepareModel(path, { calibration, posthocExits: 3 });
  const prepMs = performance.now() - t0;
  for (const budget of budgets) {
    const { calibration: cal, point, finalAccuracy } = await measureExitPolicy(prepared, t10k, budget);
    rows.push([
      label,
      budget.toFixed(1),
      cal.measure,
      pct(point.exitRate),
      pct(point.accuracy),
      pct(finalAccuracy),
      ((point.accuracy - finalAccuracy) * 100).toFixed(2),
      point.perExit.map((e) => `${e.output} ${pct(e.rate)}@${pct(e.accuracy)}`).join(', '),
      budget === budgets[0] ? `${(prepMs / 1000).toFixed(1)} s` : '',
    ]);
  }
}

const header = [
  'model',
  'budget pt',
  'measure',
  't10k exit %',
  't10k acc %',
  'final-only acc %',
  'Δ pt',
  'per exit: rate@accuracy',
  'prepare',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
console.log('\nEarly exits on Fashion-MNIST t10k (thresholds calibrated on train[55000:60000])');
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
