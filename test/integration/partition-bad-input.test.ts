// What a user gets for a mistake in `cleave partition`'s model and calibration flags: an --input-shape that does
// not fit the model, a calibration set that does not fit its input or outputs, a --task it cannot have. Each one
// is refused before any long work with a one-line error that names the flag or the file, a non-zero exit, and
// nothing written where the bundle would have gone.
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { encodeNpy, encodePng, PRETRAINED_MODELS, pretrainedModelPath, runCleave } from '../harness/mod.js';

const CLS = PRETRAINED_MODELS.find((m) => m.name === 'ppocr-direction-cls')!;
const CLS_SHAPE = ['--input-shape', 'x=3x48x192'];

/** A PNG of one uniform colour: one value for grey, three for RGB. */
function png(width: number, height: number, pixel: readonly number[]): Uint8Array {
  const pixels = Uint8Array.from({ length: width * height * pixel.length }, (_, i) => pixel[i % pixel.length]!);
  return encodePng(pixels, width, height, pixel.length === 1 ? 1 : 3);
}
const npy = encodeNpy;

const labels = (values: number[]) => npy('<i8', [values.length], BigInt64Array.from(values, BigInt));

let work: string;
let cls: string;
const data = {
  emptyFolder: '',
  emptyClasses: '',
  rgbFolder: '',
  threeClasses: '',
  fmnistX: '',
  fmnistNaN: '',
  fmnistOne: '',
  clsX: '',
  labels7: '',
  labels8: '',
  labelsOutOfRange: '',
  labelsTwo: '',
  labelMaps: '',
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-bad-input-'));
  cls = await pretrainedModelPath(CLS);
  const at = (name: string) => join(work, 'data', name);
  data.emptyFolder = at('empty');
  data.emptyClasses = at('empty-classes');
  data.rgbFolder = at('rgb');
  data.threeClasses = at('three-classes');
  await mkdir(data.emptyFolder, { recursive: true });
  await writeFile(join(data.emptyFolder, 'notes.txt'), 'no images here\n');
  await mkdir(join(data.emptyClasses, 'cat'), { recursive: true });
  await mkdir(join(data.emptyClasses, 'dog'), { recursive: true });
  for (const label of ['0', '1']) {
    await mkdir(join(data.rgbFolder, label), { recursive: true });
    for (let i = 0; i < 4; i++)
      await writeFile(join(data.rgbFolder, label, `${i}.png`), png(28, 28, [200, 40, i * 50]));
  }
  for (const label of ['a', 'b', 'c']) {
    await mkdir(join(data.threeClasses, label), { recursive: true });
    for (let i = 0; i < 2; i++) await writeFile(join(data.threeClasses, label, `${i}.png`), png(200, 64, [i * 90]));
  }
  // Inputs at each model's size: fmnist [8, 1, 28, 28], the direction classifier [8, 3, 48, 192].
  data.fmnistX = at('fmnist-x.npy');
  await writeFile(data.fmnistX, npy('<f4', [8, 1, 28, 28], new Float32Array(8 * 28 * 28).fill(0.5)));
  const withNaN = new Float32Array(8 * 28 * 28).fill(0.5);
  withNaN[3 * 28 * 28 + 100] = Number.NaN;
  data.fmnistNaN = at('fmnist-nan.npy');
  await writeFile(data.fmnistNaN, npy('<f4', [8, 1, 28, 28], withNaN));
  data.fmnistOne = at('fmnist-one.npy');
  await writeFile(data.fmnistOne, npy('<f4', [1, 1, 28, 28], new Float32Array(28 * 28).fill(0.5)));
  data.clsX = at('cls-x.npy');
  await writeFile(data.clsX, npy('<f4', [8, 3, 48, 192], new Float32Array(8 * 3 * 48 * 192)));
  data.labels7 = at('labels-7.npy');
  await writeFile(data.labels7, labels([0, 1, 2, 3, 4, 5, 6]));
  data.labels8 = at('labels-8.npy');
  await writeFile(data.labels8, labels([0, 1, 2, 3, 4, 5, 6, 7]));
  data.labelsOutOfRange = at('labels-out-of-range.npy');
  await writeFile(data.labelsOutOfRange, labels([0, 1, 2, 3, 4, 5, 6, 12]));
  data.labelMaps = at('label-maps.npy');
  await writeFile(data.labelMaps, npy('<i8', [8, 28, 28], new BigInt64Array(8 * 28 * 28)));
  data.labelsTwo = at('labels-two.npy');
  await writeFile(data.labelsTwo, labels([0, 1, 0, 1, 0, 1, 0, 2]));
});

interface BadCase {
  name: string;
  args: () => string[];
  /** What the error line must say (besides naming the flag or file). */
  error: RegExp;
}

const CASES: BadCase[] = [
  {
    name: '--input-shape naming an input the model does not have',
    args: () => [cls, '--input-shape', 'image=3x48x192'],
    error: /--input-shape image=3x48x192: the model has no input 'image' \(inputs: x /,
  },
  {
    name: '--input-shape of the wrong rank',
    args: () => [cls, '--input-shape', 'x=48x192'],
    error: /--input-shape x=48x192: input 'x' has rank 4 .* give 3 dims/,
  },
  {
    name: '--input-shape with a zero dim',
    args: () => [cls, '--input-shape', 'x=3x0x192'],
    error: /--input-shape 'x=3x0x192': dim '0' is not a positive integer/,
  },
  {
    name: '--input-shape with a negative dim',
    args: () => [cls, '--input-shape', 'x=3x-48x192'],
    error: /--input-shape 'x=3x-48x192': dim '-48' is not a positive integer/,
  },
  {
    name: 'a malformed --input-shape',
    args: () => [cls, '--input-shape', 'x=3xfoo'],
    error: /--input-shape 'x=3xfoo': dim 'foo' is not a positive integer/,
  },
  {
    name: 'a calibration folder with no images',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.emptyFolder],
    error: /empty: no images \(\.png, \.jpg, \.jpeg\)/,
  },
  {
    name: 'a calibration folder whose class subfolders are empty',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.emptyClasses],
    error: /empty-classes: no images/,
  },
  {
    name: 'RGB images for a 1-channel model without --calib-channels gray',
    args: () => [EXAMPLE_MODEL_BACKBONE, '--calib', data.rgbFolder],
    error: /rgb\/0\/0\.png: colour image \(3 channels\), but the model input has 1 channel; pass --calib-channels gray/,
  },
  {
    name: '--calib-channels rgb for a 1-channel model',
    args: () => [EXAMPLE_MODEL_WITH_EXITS, '--calib', data.rgbFolder, '--calib-channels', 'rgb'],
    error: /--calib-channels rgb gives 3 channels, but the model input has 1/,
  },
  {
    name: '--calib-mean with a value count that is not the channel count',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.threeClasses, '--calib-mean', '0.5,0.5'],
    error: /--calib-mean has 2 values, but the model input has 3 channels/,
  },
  {
    name: 'more class subfolders than the model has classes',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.threeClasses],
    error: /three-classes: 3 class subfolders \(a, b, c\), but the model's outputs have only 2 classes/,
  },
  {
    name: 'a .npy of inputs that is not at the model input shape',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.fmnistX],
    error: /fmnist-x\.npy: inputs are \[8, 1, 28, 28\], but the model input is \[.*, 3, 48, 192\]/,
  },
  {
    name: 'a .npy of inputs holding NaN',
    args: () => [EXAMPLE_MODEL_BACKBONE, '--calib', data.fmnistNaN],
    error: /fmnist-nan\.npy: sample 3 holds NaN; inputs must be finite numbers/,
  },
  {
    name: 'one calibration sample: nothing left to train post-hoc heads on after the hold-out',
    args: () => [EXAMPLE_MODEL_BACKBONE, '--calib', data.fmnistOne],
    error: /fmnist-one\.npy: no samples left to train post-hoc exit heads on after the hold-out; give at least 2/,
  },
  {
    name: 'label maps for a classifier with exits',
    args: () => [EXAMPLE_MODEL_WITH_EXITS, '--calib', data.fmnistX, '--calib-labels', data.labelMaps],
    error:
      /\(.*fmnist-x\.npy \+ .*label-maps\.npy\) has label maps \[28, 28\], but a classification model needs one class index per sample/,
  },
  {
    name: 'fewer labels than inputs',
    args: () => [EXAMPLE_MODEL_BACKBONE, '--calib', data.fmnistX, '--calib-labels', data.labels7],
    error: /labels-7\.npy: 7 labels for 8 inputs in .*fmnist-x\.npy/,
  },
  {
    name: 'labels beyond the classes of the model with exits',
    args: () => [EXAMPLE_MODEL_WITH_EXITS, '--calib', data.fmnistX, '--calib-labels', data.labelsOutOfRange],
    error: /labels-out-of-range\.npy: label 12, but the model's outputs have only 10 classes/,
  },
  {
    name: 'labels beyond the 2 classes of the pretrained classifier',
    args: () => [cls, ...CLS_SHAPE, '--calib', data.clsX, '--calib-labels', data.labelsTwo],
    error: /labels-two\.npy: label 2, but the model's outputs have only 2 classes/,
  },
  {
    name: '--task segmentation on a classifier',
    args: () => [cls, ...CLS_SHAPE, '--task', 'segmentation'],
    error: /--task segmentation needs one float32 \[N, classes, H, W\] final output.*use --task classification/,
  },
  {
    name: '--task segmentation on the example classifier',
    args: () => [EXAMPLE_MODEL_BACKBONE, '--task', 'segmentation'],
    error:
      /--task segmentation needs one float32 \[N, classes, H, W\] final output, but the final outputs are 'logits'/,
  },
];

/** The last non-empty line of stderr, after checking that nothing before it is anything but JSON log lines. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length, stderr).toBeGreaterThan(0);
  for (const line of lines.slice(0, -1)) expect(() => JSON.parse(line) as unknown, stderr).not.toThrow();
  return lines.at(-1)!;
}

async function partitionRefused(name: string, args: string[]): Promise<string> {
  const parent = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
  await mkdir(parent, { recursive: true });
  const out = join(parent, 'bundle');
  const result = await runCleave(['partition', ...args, '--out', out, '--runs', '1', '--warmup', '1'], {
    timeoutMs: 60_000,
  });
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code, result.stderr).not.toBeNull();
  const line = errorLine(result.stderr);
  expect(line).not.toMatch(/^\s+at /);
  // No bundle, and no half-written staging directory beside it either.
  expect(await readdir(parent)).toEqual([]);
  return line;
}

describe('Bad input gets a one-line error, a non-zero exit and no bundle left behind', () => {
  it.each(CASES)('$name', async ({ name, args, error }) => {
    const line = await partitionRefused(name, args());
    expect(line).toMatch(/^cleave: \w+Error: /);
    expect(line).toMatch(error);
  });

  it('--task with an unknown name is a usage error naming the flag and the tasks', async () => {
    const line = await partitionRefused('unknown-task', [cls, ...CLS_SHAPE, '--task', 'banana']);
    // Commander rejects it while parsing flags, before the command runs, in its own `error: option` form.
    expect(line).toMatch(
      /^error: option '--task <task>' argument 'banana' is invalid\. --task must be one of classification, segmentation/,
    );
  });
});
