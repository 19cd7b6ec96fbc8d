// Calibration of a real pretrained 3×H×W classifier (PaddleOCR's text-direction classifier, 0° vs 180°) through
// the CLI, from each kind of source a user brings: an ImageFolder-layout folder of PNGs and JPEGs (class
// subfolders → labels), the same images flat (no labels: exits calibrated by agreement with the full model), and a
// .npy of inputs with and without a .npy of labels. The model has no exits, so every bundle gets post-hoc heads.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeJpeg, encodeNpy, encodePng, PRETRAINED_MODELS, pretrainedModelPath, runCleave } from '../harness/mod.js';

const CLS = PRETRAINED_MODELS.find((m) => m.name === 'ppocr-direction-cls')!;
const [H, W] = [48, 192];
const IMAGE = { height: 64, width: 200 };
const PER_CLASS = 60;

interface Manifest {
  model: { task?: string };
  exits?: { output: string; kind?: string }[];
  exitPolicy?: {
    reference?: string;
    samples: number;
    source: string;
    finalAccuracy: number;
    operatingPoint: { thresholds: Record<string, number | null>; exitRate: number; accuracy: number };
    curve: { thresholds: Record<string, number | null>; exitRate: number }[];
  };
}

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A line of synthetic "text" on paper, H × W × 3 uint8: dark glyph bars on the x-height band, some with ascenders
 * above it and a few descenders below, with seeded noise. Upright, or rotated by 180° (rows and columns reversed).
 */
function textLine(seed: number, height: number, width: number, rotated: boolean): Uint8Array {
  const random = seeded(seed);
  const ink = new Uint8Array(height * width);
  const [top, mid, base, bottom] = [0.2, 0.45, 0.72, 0.85].map((f) => Math.round(f * height)) as [
    number,
    number,
    number,
    number,
  ];
  let x = Math.round(random() * 8) + 4;
  while (x < width - 6) {
    const glyph = 2 + Math.floor(random() * Math.max(2, width / 30));
    const kind = random();
    const from = kind < 0.35 ? top : mid;
    const to = kind > 0.9 ? bottom : base;
    for (let y = from; y < to; y++) for (let i = x; i < Math.min(width, x + glyph); i++) ink[y * width + i] = 1;
    x += glyph + 1 + Math.floor(random() * 3) + (random() < 0.15 ? Math.round(width / 25) : 0);
  }
  const out = new Uint8Array(height * width * 3);
  for (let p = 0; p < height * width; p++) {
    const from = rotated ? height * width - 1 - p : p;
    const noise = (random() - 0.5) * 24;
    const base = ink[from] ? [35, 32, 40] : [232, 226, 214];
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.max(0, Math.min(255, Math.round(base[c]! + noise)));
  }
  return out;
}

/** A uniform-format PNG of interleaved RGB pixels. */
const png = (rgb: Uint8Array, width: number, height: number) => encodePng(rgb, width, height, 3);
const jpg = encodeJpeg;
const npy = encodeNpy;

let work: string;
let model: string;
const sources = { folder: '', flat: '', npy: '', labels: '' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-calib-sources-'));
  model = await pretrainedModelPath(CLS);
  sources.folder = join(work, 'folder');
  sources.flat = join(work, 'flat');
  for (const dir of [join(sources.folder, '0'), join(sources.folder, '180'), sources.flat]) {
    await mkdir(dir, { recursive: true });
  }
  const { width, height } = IMAGE;
  for (let i = 0; i < 2 * PER_CLASS; i++) {
    const rotated = i >= PER_CLASS;
    const pixels = textLine(1000 + i, height, width, rotated);
    // Every third image a JPEG: both decoders in one set.
    const [name, bytes] =
      i % 3 === 2 ? [`${i}.jpg`, jpg(pixels, width, height)] : [`${i}.png`, png(pixels, width, height)];
    await writeFile(join(sources.folder, rotated ? '180' : '0', name), bytes);
    await writeFile(join(sources.flat, `img-${name}`), bytes);
  }
  // The same task as arrays already at the model's input size, normalised to [-1, 1] as PaddleOCR does.
  const count = 2 * PER_CLASS;
  const x = new Float32Array(count * 3 * H * W);
  const y = new BigInt64Array(count);
  for (let i = 0; i < count; i++) {
    const rotated = i % 2 === 1;
    const pixels = textLine(5000 + i, H, W, rotated);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < 3; c++) x[(i * 3 + c) * H * W + p] = (pixels[p * 3 + c]! / 255 - 0.5) / 0.5;
    }
    y[i] = rotated ? 1n : 0n;
  }
  sources.npy = join(work, 'x.npy');
  sources.labels = join(work, 'y.npy');
  await writeFile(sources.npy, npy('<f4', [count, 3, H, W], x));
  await writeFile(sources.labels, npy('<i8', [count], y));
});

async function partitionWith(name: string, calib: string[]): Promise<Manifest> {
  const out = join(work, `bundle-${name}`);
  const result = await runCleave(
    ['partition', model, '--out', out, '--input-shape', `x=3x${H}x${W}`, '--runs', '1', '--warmup', '1', ...calib],
    { timeoutMs: 60_000 },
  );
  expect(result.code, result.stderr).toBe(0);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
  expect(manifest.model.task).toBe('classification');
  // No built-in exits: the heads were trained on the calibration set.
  expect(manifest.exits?.length).toBeGreaterThan(0);
  for (const exit of manifest.exits!) expect(exit.kind).toBe('post-hoc');
  const policy = manifest.exitPolicy!;
  expect(policy).toBeDefined();
  // 120 samples: the last half chooses thresholds, the first half trains heads.
  expect(policy.samples).toBe(PER_CLASS);
  expect(policy.source).toContain(calib[1]!);
  for (const point of [policy.operatingPoint, ...policy.curve]) {
    expect(point.exitRate).toBeGreaterThanOrEqual(0);
    expect(point.exitRate).toBeLessThanOrEqual(1);
    expect(Object.keys(point.thresholds).sort()).toEqual(manifest.exits!.map((e) => e.output).sort());
    for (const t of Object.values(point.thresholds)) expect(t === null || Number.isFinite(t)).toBe(true);
  }
  if (policy.reference === 'agreement') expect(policy.finalAccuracy).toBe(1);
  // The pretrained classifier tells the synthetic upright lines from rotated ones (~0.85 here): labels, pixel
  // order, channels and normalisation reached the model as PaddleOCR feeds it, not flipped or off by a scale.
  else expect(policy.finalAccuracy).toBeGreaterThan(0.7);
  return manifest;
}

describe('Calibration of a 3×H×W model from an image folder, from .npy, and without labels', () => {
  const normalise = ['--calib-mean', '0.5,0.5,0.5', '--calib-std', '0.5,0.5,0.5'];

  it('an ImageFolder of PNGs and JPEGs (class subfolders 0 and 180) calibrates against its labels', async () => {
    const manifest = await partitionWith('folder', ['--calib', sources.folder, ...normalise]);
    expect(manifest.exitPolicy!.reference).toBe('labels');
  }, 60_000);

  it('the same images in one flat folder calibrate by agreement with the full model', async () => {
    const manifest = await partitionWith('flat', ['--calib', sources.flat, ...normalise]);
    expect(manifest.exitPolicy!.reference).toBe('agreement');
  }, 60_000);

  it('a float32 [N, 3, 48, 192] .npy with an int64 labels .npy calibrates against the labels', async () => {
    const manifest = await partitionWith('npy', ['--calib', sources.npy, '--calib-labels', sources.labels]);
    expect(manifest.exitPolicy!.reference).toBe('labels');
  }, 60_000);

  it('a .npy without labels calibrates by agreement', async () => {
    const manifest = await partitionWith('npy-unlabelled', ['--calib', sources.npy]);
    expect(manifest.exitPolicy!.reference).toBe('agreement');
  }, 60_000);
});
