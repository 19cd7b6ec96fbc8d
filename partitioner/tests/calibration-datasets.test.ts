import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encode as encodePng } from 'fast-png';
import { zipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../src/datasets/idx-reader.js';
import { loadIdxImagesWithLabels, toUnitFloatBatch } from '../src/datasets/labelled-images.js';
import { loadCalibrationSet, resolveCalibrationData } from '../src/datasets/load-calibration.js';
import { resizeBilinear, shorterSideSize } from '../src/datasets/image-preprocess.js';

const spec = (...shape: (number | string)[]) => ({ name: 'input', dtype: 'float32', shape });
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-calib-'));
});

async function dir(name: string): Promise<string> {
  const path = join(work, name);
  await mkdir(path, { recursive: true });
  return path;
}

/** A PNG of `channels` 8-bit channels whose pixel (x, y) is `pixel(x, y)`. */
async function png(
  path: string,
  width: number,
  height: number,
  channels: number,
  pixel: (x: number, y: number) => number[],
) {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * channels);
  await writeFile(path, encodePng({ width, height, data, channels, depth: 8 }));
}

async function jpg(path: string, width: number, height: number, rgb: number[]) {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...rgb, 255], i * 4);
  await writeFile(path, jpeg.encode({ width, height, data }, 95).data);
}

/** A minimal .npy writer (little-endian, C order). */
function npy(descr: string, shape: number[], data: ArrayBufferView, fortran = false): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<DatasetError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DatasetError) {
      expect(error.message).not.toContain('\n');
      return error;
    }
    throw error;
  }
  throw new Error('expected a DatasetError');
}

describe('image folders', () => {
  it('ImageFolder layout 3×32×32, two classes: shape, labels from sorted subfolders, mean/std values', async () => {
    const root = await dir('labelled');
    const colours = { cat: [200, 100, 50], dog: [10, 240, 128] } as const;
    for (const [name, rgb] of Object.entries(colours)) {
      await mkdir(join(root, name));
      for (let i = 0; i < 3; i++) await png(join(root, name, `${i}.png`), 40 + i * 8, 36, 3, () => [...rgb]);
    }
    await jpg(join(root, 'dog', 'extra.jpg'), 64, 48, [10, 240, 128]);
    const data = await loadCalibrationSet(root, {
      inputSpec: spec('N', 3, 32, 32),
      preprocess: { mean: MEAN, std: STD },
      classes: 2,
    });
    expect(data.count).toBe(7);
    expect(data.sampleShape).toEqual([3, 32, 32]);
    expect(data.labels && [...data.labels].sort()).toEqual([0, 0, 0, 1, 1, 1, 1]);
    const batch = await data.readBatch(0, data.count);
    expect(batch.length).toBe(7 * 3 * 1024);
    for (let i = 0; i < data.count; i++) {
      const rgb = data.labels![i] === 0 ? colours.cat : colours.dog;
      for (let c = 0; c < 3; c++) {
        const want = (rgb[c]! / 255 - MEAN[c]!) / STD[c]!;
        const got = batch[i * 3072 + c * 1024 + 17 * 32 + 5]!;
        expect(Math.abs(got - want)).toBeLessThan(0.06); // JPEG is lossy; PNGs are exact to float rounding
      }
    }
    // A deterministic shuffle mixes the classes (head training takes the first samples, hold-out the last).
    const again = await loadCalibrationSet(root, { inputSpec: spec('N', 3, 32, 32) });
    expect([...again.labels!]).toEqual([...data.labels!]);
    expect(new Set(data.labels!.subarray(0, 4)).size).toBe(2);
    // Slices share the order and labels.
    const tail = data.slice(5, 7);
    expect([...tail.labels!]).toEqual([...data.labels!.subarray(5, 7)]);
    expect(Array.from(await tail.readBatch(0, 2))).toEqual(Array.from(batch.subarray(5 * 3072)));
  });

  it('a flat folder is unlabelled; grey images feed 3-channel models; BGR and NHWC', async () => {
    const root = await dir('flat');
    await png(join(root, 'a.png'), 8, 8, 3, () => [255, 0, 0]);
    await png(join(root, 'b.png'), 8, 8, 1, () => [51]);
    const data = await loadCalibrationSet(root, { inputSpec: spec('N', 3, 4, 4) });
    expect(data.labels).toBeUndefined();
    expect(data.count).toBe(2);
    const batch = await data.readBatch(0, 2);
    const red = batch.subarray(0, 48);
    expect([red[0], red[16], red[32]]).toEqual([1, 0, 0]);
    const grey = batch.subarray(48);
    expect([grey[0], grey[16], grey[32]].map((v) => Math.round(v! * 255))).toEqual([51, 51, 51]);
    const bgr = await loadCalibrationSet(join(root, 'a.png').replace('/a.png', ''), {
      inputSpec: spec('N', 4, 4, 3),
      preprocess: { channels: 'bgr' },
    });
    expect(bgr.sampleShape).toEqual([4, 4, 3]);
    expect(Array.from((await bgr.readBatch(0, 1)).subarray(0, 3))).toEqual([0, 0, 1]);
  });

  it('colour images for a 1-channel model need --calib-channels gray', async () => {
    const root = await dir('colour-for-grey');
    await png(join(root, 'a.png'), 4, 4, 3, () => [100, 200, 50]);
    const error = await failure(loadCalibrationSet(root, { inputSpec: spec('N', 1, 4, 4) }));
    expect(error.code).toBe('channels');
    expect(error.message).toMatch(
      /a\.png: colour image \(3 channels\), but the model input has 1 channel; pass --calib-channels gray/,
    );
    const grey = await loadCalibrationSet(root, { inputSpec: spec('N', 1, 4, 4), preprocess: { channels: 'gray' } });
    expect((await grey.readBatch(0, 1))[0]! * 255).toBeCloseTo((100 * 299 + 200 * 587 + 50 * 114) / 1000, 3);
    const wrong = await failure(
      loadCalibrationSet(root, { inputSpec: spec('N', 3, 4, 4), preprocess: { channels: 'gray' } }),
    );
    expect(wrong.message).toMatch(/--calib-channels gray gives 1 channel, but the model input has 3/);
  });

  it('resizes the shorter side, then crops the centre', async () => {
    const root = await dir('crop');
    // 40 × 20: left half red, right half blue.
    await png(join(root, 'a.png'), 40, 20, 3, (x) => (x < 20 ? [255, 0, 0] : [0, 0, 255]));
    const data = await loadCalibrationSet(root, { inputSpec: spec('N', 3, 10, 10), preprocess: { resize: 10 } });
    const x = await data.readBatch(0, 1);
    // Resized to 20 × 10, the centre crop keeps columns 5..14: red on the left, blue on the right.
    expect(x[0]).toBeCloseTo(1, 5); // red, column 0
    expect(x[9]).toBeCloseTo(0, 5);
    expect(x[200 + 9]).toBeCloseTo(1, 5); // blue, column 9
    expect(shorterSideSize(20, 40, 10)).toEqual([10, 20]);
    // PIL's antialiased bilinear: shrinking by 2 widens the triangle filter to 2 input pixels each side.
    const halved = Array.from(resizeBilinear(Float32Array.of(0, 10, 20, 30), 1, 4, 1, 1, 2));
    expect(halved[0]).toBeCloseTo(12.5 / 1.75, 5);
    expect(halved[1]).toBeCloseTo(40 / 1.75, 5);
    const small = await failure(
      loadCalibrationSet(root, { inputSpec: spec('N', 3, 32, 32), preprocess: { crop: [32, 32] } }),
    );
    expect(small.message).toMatch(/40×20 image is smaller than --calib-crop 32x32; add --calib-resize N/);
  });

  it('errors: no images, more classes than the model, a bad crop, a symbolic size, bad mean', async () => {
    const empty = await dir('empty');
    await writeFile(join(empty, 'notes.txt'), 'not an image');
    expect((await failure(loadCalibrationSet(empty, { inputSpec: spec('N', 3, 8, 8) }))).message).toMatch(
      /empty: no images \(\.png, \.jpg, \.jpeg\) in the folder or in class subfolders/,
    );
    const many = await dir('many');
    for (const c of ['a', 'b', 'c']) {
      await mkdir(join(many, c));
      await png(join(many, c, '0.png'), 4, 4, 1, () => [0]);
    }
    const classes = await failure(loadCalibrationSet(many, { inputSpec: spec('N', 3, 4, 4), classes: 2 }));
    expect(classes.message).toMatch(/3 class subfolders \(a, b, c\), but the model's outputs have only 2 classes/);
    expect(
      (await failure(loadCalibrationSet(many, { inputSpec: spec('N', 3, 4, 4), preprocess: { crop: [3, 3] } })))
        .message,
    ).toMatch(/--calib-crop 3x3 gives 3×3 samples, but the model input is \[N, 3, 4, 4\]/);
    expect((await failure(loadCalibrationSet(many, { inputSpec: spec('N', 3, 'H', 'W') }))).message).toMatch(
      /no fixed size: pass --calib-crop HxW/,
    );
    expect(
      (await failure(loadCalibrationSet(many, { inputSpec: spec('N', 3, 4, 4), preprocess: { mean: [1, 2] } })))
        .message,
    ).toMatch(/--calib-mean has 2 values, but the model input has 3 channels/);
  });
});

describe('.npy and .npz arrays', () => {
  const x = Float32Array.from({ length: 4 * 3 * 2 * 2 }, (_, i) => i / 10);

  it('float32 inputs with int64 labels, and mean/std per channel', async () => {
    const root = await dir('npy');
    await writeFile(join(root, 'x.npy'), npy('<f4', [4, 3, 2, 2], x));
    await writeFile(join(root, 'y.npy'), npy('<i8', [4], BigInt64Array.of(0n, 1n, 2n, 1n)));
    const data = await loadCalibrationSet(join(root, 'x.npy'), {
      inputSpec: spec('N', 3, 2, 2),
      labelsPath: join(root, 'y.npy'),
      classes: 3,
    });
    expect(data.count).toBe(4);
    expect([...data.labels!]).toEqual([0, 1, 2, 1]);
    expect(Array.from(await data.readBatch(0, 4))).toEqual(Array.from(x));
    const normalised = await loadCalibrationSet(join(root, 'x.npy'), {
      inputSpec: spec('N', 3, 2, 2),
      preprocess: { mean: [1, 2, 3], std: [2, 2, 2] },
    });
    const b = await normalised.readBatch(0, 1);
    expect(b[4]).toBeCloseTo((x[4]! - 2) / 2, 6); // channel 1
  });

  it('float64 to float32, uint8 divided only with --calib-scale, NHWC arrays transposed, [N, H, W] given a channel', async () => {
    const root = await dir('npy-types');
    await writeFile(join(root, 'f8.npy'), npy('<f8', [4, 3, 2, 2], Float64Array.from(x)));
    const f8 = await loadCalibrationSet(join(root, 'f8.npy'), { inputSpec: spec('N', 3, 2, 2) });
    expect(Array.from(await f8.readBatch(0, 4))).toEqual(Array.from(x));
    await writeFile(join(root, 'u1.npy'), npy('|u1', [1, 1, 2, 2], Uint8Array.of(0, 51, 102, 255)));
    const raw = await loadCalibrationSet(join(root, 'u1.npy'), { inputSpec: spec('N', 1, 2, 2) });
    expect(Array.from(await raw.readBatch(0, 1))).toEqual([0, 51, 102, 255]);
    const scaled = await loadCalibrationSet(join(root, 'u1.npy'), {
      inputSpec: spec('N', 1, 2, 2),
      preprocess: { scale: 255 },
    });
    expect(Array.from(await scaled.readBatch(0, 1))).toEqual([0, 0.2, 0.4, 1].map(Math.fround));
    // [1, 2, 2, 3] (HWC) for an NCHW model: value = channel * 10 + pixel.
    const hwc = Float32Array.from({ length: 12 }, (_, i) => (i % 3) * 10 + Math.floor(i / 3));
    await writeFile(join(root, 'hwc.npy'), npy('<f4', [1, 2, 2, 3], hwc));
    const t = await loadCalibrationSet(join(root, 'hwc.npy'), { inputSpec: spec('N', 3, 2, 2) });
    expect(Array.from(await t.readBatch(0, 1))).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    await writeFile(join(root, 'nhw.npy'), npy('<f4', [2, 2, 2], Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    const nhw = await loadCalibrationSet(join(root, 'nhw.npy'), { inputSpec: spec('N', 1, 2, 2) });
    expect(nhw.sampleShape).toEqual([1, 2, 2]);
  });

  it('.npz with x and y, stored or deflated; names it does not know are listed', async () => {
    const root = await dir('npz');
    const members = {
      'x.npy': npy('<f4', [4, 3, 2, 2], x),
      'y.npy': npy('<i4', [4], Int32Array.of(1, 0, 1, 0)),
    };
    for (const level of [0, 6] as const) {
      await writeFile(join(root, `set${level}.npz`), zipSync(members, { level }));
      const data = await loadCalibrationSet(join(root, `set${level}.npz`), {
        inputSpec: spec('N', 3, 2, 2),
        classes: 2,
      });
      expect([...data.labels!]).toEqual([1, 0, 1, 0]);
      expect(Array.from(await data.readBatch(2, 3))).toEqual(Array.from(x.subarray(24, 36)));
    }
    await writeFile(join(root, 'odd.npz'), zipSync({ 'a.npy': members['x.npy'], 'b.npy': members['y.npy'] }));
    expect(
      (await failure(loadCalibrationSet(join(root, 'odd.npz'), { inputSpec: spec('N', 3, 2, 2) }))).message,
    ).toMatch(/no inputs array: name it 'x' or 'inputs' .* the archive has a, b/);
  });

  it('real numpy files (np.save, np.savez_compressed)', async () => {
    const root = await dir('numpy');
    try {
      execFileSync('python3', [
        '-c',
        `import numpy as np
x = np.arange(2*3*4*4, dtype=np.float64).reshape(2, 3, 4, 4) / 7
np.save('${root}/x.npy', x.astype(np.float32)); np.save('${root}/y.npy', np.array([1, 0]))
np.savez_compressed('${root}/s.npz', inputs=x, labels=np.array([0, 1], dtype=np.uint8))`,
      ]);
    } catch {
      return; // no numpy here: the hand-written files above cover the format
    }
    const a = await loadCalibrationSet(join(root, 'x.npy'), {
      inputSpec: spec('N', 3, 4, 4),
      labelsPath: join(root, 'y.npy'),
    });
    const b = await loadCalibrationSet(join(root, 's.npz'), { inputSpec: spec('N', 3, 4, 4) });
    expect([...a.labels!]).toEqual([1, 0]);
    expect([...b.labels!]).toEqual([0, 1]);
    const xa = await a.readBatch(0, 2);
    expect(xa[95]).toBeCloseTo(95 / 7, 5);
    expect(Array.from(await b.readBatch(0, 2))).toEqual(Array.from(xa));
  });

  it('errors: Fortran order, unsupported dtype, big-endian, label count, label range, shape, image-only flags', async () => {
    const root = await dir('npy-errors');
    const at = (name: string) => join(root, name);
    await writeFile(at('f.npy'), npy('<f4', [4, 3, 2, 2], x, true));
    expect((await failure(loadCalibrationSet(at('f.npy'), { inputSpec: spec('N', 3, 2, 2) }))).message).toMatch(
      /f\.npy: the array is in Fortran order; save it in C order/,
    );
    await writeFile(at('c.npy'), npy('<c8', [1, 1], new Float32Array(2)));
    expect((await failure(loadCalibrationSet(at('c.npy'), { inputSpec: spec('N', 1) }))).message).toMatch(
      /c\.npy: unsupported dtype '<c8'/,
    );
    await writeFile(at('be.npy'), npy('>f4', [4, 3, 2, 2], x));
    expect((await failure(loadCalibrationSet(at('be.npy'), { inputSpec: spec('N', 3, 2, 2) }))).code).toBe(
      'unsupported',
    );
    await writeFile(at('x.npy'), npy('<f4', [4, 3, 2, 2], x));
    await writeFile(at('y3.npy'), npy('<i8', [3], BigInt64Array.of(0n, 1n, 0n)));
    expect(
      (await failure(loadCalibrationSet(at('x.npy'), { inputSpec: spec('N', 3, 2, 2), labelsPath: at('y3.npy') })))
        .message,
    ).toMatch(/y3\.npy: 3 labels for 4 inputs in .*x\.npy/);
    await writeFile(at('y.npy'), npy('<i8', [4], BigInt64Array.of(0n, 1n, 7n, 0n)));
    expect(
      (
        await failure(
          loadCalibrationSet(at('x.npy'), { inputSpec: spec('N', 3, 2, 2), labelsPath: at('y.npy'), classes: 5 }),
        )
      ).message,
    ).toMatch(/y\.npy: label 7, but the model's outputs have only 5 classes/);
    expect((await failure(loadCalibrationSet(at('x.npy'), { inputSpec: spec('N', 3, 224, 224) }))).message).toMatch(
      /x\.npy: inputs are \[4, 3, 2, 2\], but the model input is \[N, 3, 224, 224\]; arrays are not resized/,
    );
    expect(
      (await failure(loadCalibrationSet(at('x.npy'), { inputSpec: spec('N', 3, 2, 2), preprocess: { resize: 4 } })))
        .message,
    ).toMatch(/--calib-resize apply to image folders and IDX images/);
    await writeFile(at('weird.bin'), 'hello world');
    expect((await failure(loadCalibrationSet(at('weird.bin'), { inputSpec: spec('N', 3, 2, 2) }))).message).toMatch(
      /not a calibration set: expected a folder of images/,
    );
  });

  it('segmentation label maps [N, H, W] keep 255 as "ignore"', async () => {
    const root = await dir('maps');
    await writeFile(join(root, 'x.npy'), npy('<f4', [4, 3, 2, 2], x));
    await writeFile(
      join(root, 'm.npy'),
      npy(
        '|u1',
        [4, 2, 2],
        Uint8Array.from({ length: 16 }, (_, i) => (i === 3 ? 255 : i % 2)),
      ),
    );
    const data = await loadCalibrationSet(join(root, 'x.npy'), {
      inputSpec: spec('N', 3, 2, 2),
      labelsPath: join(root, 'm.npy'),
      classes: 2,
    });
    expect(data.labelShape).toEqual([2, 2]);
    expect(data.labels![3]).toBe(255);
    expect([...data.slice(1, 2).labels!]).toEqual([0, 1, 0, 1]);
  });
});

describe('IDX sets', () => {
  it('an IDX directory loads exactly as before: [1, H, W] in [0, 1]', async () => {
    const root = await dir('idx');
    const header = (type: number, dims: number[]) => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b[2] = type;
      b[3] = dims.length;
      dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
      return b;
    };
    const pixels = Buffer.from(Array.from({ length: 3 * 4 * 4 }, (_, i) => i * 5));
    await writeFile(join(root, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.concat([header(8, [3, 4, 4]), pixels])));
    await writeFile(
      join(root, 'train-labels-idx1-ubyte.gz'),
      gzipSync(Buffer.concat([header(8, [3]), Buffer.of(2, 0, 1)])),
    );
    const data = await loadCalibrationSet(root, { inputSpec: spec('N', 1, 4, 4) });
    const legacy = await loadIdxImagesWithLabels(
      join(root, 'train-images-idx3-ubyte.gz'),
      join(root, 'train-labels-idx1-ubyte.gz'),
    );
    expect(data.sampleShape).toEqual([1, 4, 4]);
    expect([...data.labels!]).toEqual([2, 0, 1]);
    expect(Array.from(await data.readBatch(1, 3))).toEqual(Array.from(toUnitFloatBatch(legacy, 1, 3)));
    expect(
      Array.from(await (await resolveCalibrationData(legacy, { inputSpec: spec('N', 1, 4, 4) })).readBatch(0, 3)),
    ).toEqual(Array.from(toUnitFloatBatch(legacy, 0, 3)));
    // With preprocessing flags the same images feed a 3-channel model.
    const rgb = await loadCalibrationSet(root, { inputSpec: spec('N', 3, 8, 8), preprocess: { resize: 8 } });
    expect(rgb.sampleShape).toEqual([3, 8, 8]);
    expect((await rgb.readBatch(0, 3)).length).toBe(3 * 192);
  });
});
