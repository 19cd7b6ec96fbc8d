/**
 * Early-exit curve. By default on Fashion-MNIST: thresholds are calibrated on the last 5,000 train images
 * (post-hoc heads train on the first 20,000), then applied unchanged to t10k. One table per model (built-in exits,
 * and Cleave's post-hoc exits on the backbone-only model) at several accuracy budgets, side by side.
 *
 * Any other model: `--model m.onnx --calib <data> [--eval <data>] [--task t]`. The model's task decides: a task
 * without a confidence (detection, dense, sequence, other), or several final outputs, gets "splits only" and no
 * curve; segmentation is measured in pixel accuracy; data without labels gives agreement with the full model.
 *
 * Usage: npm run bench:exits [-- --model m.onnx --calib dir --eval dir --task segmentation --budgets 0,1,2]
 */
import { parseArgs } from 'node:util';
import { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import {
  applyExitPolicy,
  calibrateExits,
  loadCalibrationSet,
  loadMnistSplit,
  loadOnnxModel,
  prepareModel,
  type CalibrationData,
  type CalibrationSet,
  type LabelledImages,
} from '@cleave/partitioner';
import { inferTask, isTask, TASKS, type Task } from '@cleave/proto';
import { conventionalExits, curveMetric, markdownTable, splitsOnlyReason } from './exit-curve-report.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    calib: { type: 'string' },
    'calib-labels': { type: 'string' },
    eval: { type: 'string' },
    'eval-labels': { type: 'string' },
    task: { type: 'string' },
    'posthoc-exits': { type: 'string', default: '3' },
    budgets: { type: 'string', default: '0,0.5,1,2,3' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: npm run bench:exits [-- --model m.onnx --calib <data> [--calib-labels f.npy] [--eval <data>]\n' +
      '       [--eval-labels f.npy] [--task ' +
      TASKS.join('|') +
      '] [--posthoc-exits n] [--budgets 0,1,2]]\n' +
      'Without --model: the example model (built-in and post-hoc exits) on Fashion-MNIST train → t10k.\n' +
      'Tasks without a confidence, and models with several final outputs, get "splits only" and no curve.\n',
  );
  process.exit(0);
}
if (args.task !== undefined && !isTask(args.task)) {
  process.stderr.write(`bench:exits: --task must be one of ${TASKS.join(', ')}, got '${args.task}'\n`);
  process.exit(2);
}
if (args.model !== undefined && args.calib === undefined) {
  process.stderr.write('bench:exits: --model needs --calib (the calibration data)\n');
  process.exit(2);
}
const requestedTask: Task | undefined = args.task;
const budgets = args.budgets.split(',').map(Number);
const posthocExits = Number(args['posthoc-exits']);
const pct = (x: number): string => (x * 100).toFixed(2);

interface Job {
  readonly label: string;
  readonly path: string;
  readonly calibration: CalibrationSet;
  /** The evaluation set, or undefined for the calibration hold-out. */
  readonly evaluation: (input: {
    dtype: string;
    shape: readonly (number | string | null)[];
  }) => Promise<CalibrationData | LabelledImages | undefined>;
}

const jobs: Job[] = [];
if (args.model === undefined) {
  const [train, t10k] = await Promise.all([loadMnistSplit('train'), loadMnistSplit('t10k')]);
  const calibration: CalibrationSet = { data: train, source: 'train', trainSamples: 20_000, holdoutSamples: 5_000 };
  for (const [label, path] of [
    ['built-in exits (fmnist-exits.onnx)', EXAMPLE_MODEL_WITH_EXITS],
    ['post-hoc exits (fmnist.onnx + Cleave heads)', EXAMPLE_MODEL_BACKBONE],
  ] as const) {
    jobs.push({ label, path, calibration, evaluation: () => Promise.resolve(t10k) });
  }
} else {
  const calibPath = args.calib!;
  const calibLabels = args['calib-labels'];
  const evalPath = args.eval;
  const evalLabels = args['eval-labels'];
  for (const path of args.model) {
    jobs.push({
      label: path,
      path,
      calibration: {
        data: { path: calibPath, ...(calibLabels === undefined ? {} : { labelsPath: calibLabels }) },
        source: calibPath,
      },
      evaluation: (inputSpec) =>
        evalPath === undefined
          ? Promise.resolve(undefined)
          : loadCalibrationSet(evalPath, {
              inputSpec,
              ...(evalLabels === undefined ? {} : { labelsPath: evalLabels }),
            }),
    });
  }
}

const rows: string[][] = [];
const notes: string[] = [];
const metrics = new Set<string>();
for (const job of jobs) {
  // The task first, from the graph alone: a model whose outputs have no confidence never gets to calibration.
  const onnx = await loadOnnxModel(job.path);
  const outputs = onnx.outputs.map((o) => o.name);
  const exits = conventionalExits(outputs);
  const finals = onnx.outputs.filter((o) => !exits.includes(o.name));
  const task = requestedTask ?? inferTask(onnx.inputs, finals);
  const posthoc = exits.length === 0 && task === 'classification' && posthocExits > 0 ? ['(post-hoc)'] : [];
  const skip = splitsOnlyReason(
    task,
    finals.map((f) => f.name),
    [...exits, ...posthoc],
  );
  if (skip !== null) {
    const line = `${job.label}: task ${task}, final outputs ${finals.map((f) => f.name).join(', ')}; ${skip}`;
    notes.push(line);
    console.log(line);
    continue;
  }
  const t0 = performance.now();
  const prepared = await prepareModel(job.path, {
    calibration: job.calibration,
    posthocExits,
    ...(requestedTask === undefined ? {} : { task: requestedTask }),
  });
  const prepMs = performance.now() - t0;
  if (!prepared.holdout) throw new Error(`${job.label}: no hold-out set to calibrate on`);
  const evaluation = (await job.evaluation(prepared.model.inputs[0]!)) ?? prepared.holdout;
  const onHoldout = evaluation === prepared.holdout;
  const evaluationLabelled = !('readBatch' in evaluation) || evaluation.labels !== undefined;
  for (const budget of budgets) {
    const calibration = await calibrateExits(
      prepared.model.bytes,
      prepared.model.inputs[0]!.shape,
      prepared.holdout,
      prepared.exits,
      prepared.finalOutput,
      { budgetPoints: budget, task: prepared.task },
    );
    const { point, finalAccuracy } = await applyExitPolicy(
      prepared.model.bytes,
      evaluation,
      prepared.exits,
      prepared.finalOutput,
      calibration,
    );
    // Unlabelled evaluation data measures agreement with the full model, whose own figure is then 100%.
    const metric = curveMetric(prepared.task, evaluationLabelled ? 'labels' : 'agreement');
    metrics.add(metric);
    rows.push([
      job.label,
      prepared.task,
      metric,
      budget.toFixed(1),
      calibration.measure,
      pct(point.exitRate),
      pct(point.accuracy),
      pct(finalAccuracy),
      ((point.accuracy - finalAccuracy) * 100).toFixed(2),
      point.perExit.map((e) => `${e.output} ${pct(e.rate)}@${pct(e.accuracy)}`).join(', '),
      budget === budgets[0] ? `${(prepMs / 1000).toFixed(1)} s${onHoldout ? ' (eval = hold-out)' : ''}` : '',
    ]);
  }
}

const header = [
  'model',
  'task',
  'measured as',
  'budget pt',
  'measure',
  'exit %',
  'with exits %',
  'final-only %',
  'Δ pt',
  'per exit: rate@metric',
  'prepare',
];
console.log(
  args.model === undefined
    ? '\nEarly exits on Fashion-MNIST t10k (thresholds calibrated on train[55000:60000])'
    : `\nEarly exits (thresholds calibrated on the hold-out of ${args.calib}${args.eval ? `, applied to ${args.eval}` : ''})`,
);
if (rows.length > 0) for (const l of markdownTable(header, rows)) console.log(l);
else console.log('No model has an exit curve.');
for (const n of notes) console.log(`- ${n}`);
