import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, DatasetErrorCode, readIdxFile } from './idx-reader.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The two splits of MNIST-style datasets. `train` is for training and calibration, `t10k` for evaluation only. */
export type MnistSplit = 'train' | 't10k';

/** Single-channel images with one class label each, as stored in IDX files. */
export interface LabelledImages {
  /** Pixels, one byte each, image after image (N × height × width). */
  readonly pixels: Uint8Array;
  /** One class index per image. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

/** Loads an MNIST-layout image file and label file, and checks that they agree. */
export async function loadIdxImagesWithLabels(imagesPath: string, labelsPath: string): Promise<LabelledImages> {
  const [images, labels] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new DatasetError(
      DatasetErrorCode.Mismatch,
      `${imagesPath}: expected uint8 images of 3 dims [N, H, W], got ${images.dtype} [${images.dims.join(', ')}]`,
    );
  }
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1) {
    throw new DatasetError(
      DatasetErrorCode.Mismatch,
      `${labelsPath}: expected uint8 labels of 1 dim [N], got ${labels.dtype} [${labels.dims.join(', ')}]`,
    );
  }
  const [count = 0, height = 0, width = 0] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DatasetError(
      DatasetErrorCode.Mismatch,
      `${labelsPath}: ${labels.dims[0]} labels for ${count} images in ${imagesPath}`,
    );
  }
  return { pixels: images.data as Uint8Array, labels: labels.data as Uint8Array, count, height, width };
}

/** Loads a Fashion-MNIST (or MNIST) split from a directory of `*-idx?-ubyte[.gz]` files. */
export async function loadMnistSplit(
  split: MnistSplit,
  dir: string = DEBIAN_FASHION_MNIST_DIR,
): Promise<LabelledImages> {
  return loadIdxImagesWithLabels(
    await preferGzip(join(dir, `${split}-images-idx3-ubyte`)),
    await preferGzip(join(dir, `${split}-labels-idx1-ubyte`)),
  );
}

/** Debian ships the files gzipped; other sources ship them plain. Either is accepted. */
async function preferGzip(base: string): Promise<string> {
  try {
    await access(`${base}.gz`);
    return `${base}.gz`;
  } catch {
    return base;
  }
}

/**
 * Copies images [start, end) into a float NCHW batch scaled to [0, 1], the input contract of the
 * example model (its normalisation is baked into the graph).
 */
export function toUnitFloatBatch(data: LabelledImages, start: number, end: number): Float32Array {
  const size = data.height * data.width;
  const from = Math.max(0, start);
  const to = Math.min(data.count, end);
  const out = new Float32Array(Math.max(0, to - from) * size);
  for (let i = 0; i < out.length; i++) out[i] = (data.pixels[from * size + i] ?? 0) / 255;
  return out;
}
