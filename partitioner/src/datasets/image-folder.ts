// A folder of images as a calibration set. torchvision's ImageFolder layout (one subfolder per class, images
// anywhere below it; labels are the sorted subfolder names' indices) is labelled; a flat folder of images is
// unlabelled. Every file's header is checked up front; pixels are decoded batch by batch when read.
import { open, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { seededRandom } from '@cleave/proto';
import { type CalibrationData, lazyCalibration } from './calibration-data.js';
import { DatasetError, DatasetErrorCode } from './idx-reader.js';
import { decodeImage, type ImageHeader, IMAGE_EXTENSIONS, isImageFile, readImageHeader } from './image-decode.js';
import { type CalibrationPreprocess, checkImageFits, imageTarget, preprocessImage } from './image-preprocess.js';

/** Options for {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /** The model input shape, [N, C, H, W] or [N, H, W, C]; samples are produced in exactly that shape. */
  readonly inputShape: readonly (number | string | null)[];
  readonly preprocess?: CalibrationPreprocess;
  /** Classes of the model's output, to reject a folder with more class subfolders. */
  readonly classes?: number;
  /** Seed of the fixed shuffle that mixes classes before the set is split into head-training and hold-out parts. */
  readonly seed?: number;
}

/** The class names of an ImageFolder-layout folder, in label order (its sorted subfolders). */
export interface ImageFolderSet extends CalibrationData {
  readonly classNames: readonly string[] | undefined;
  readonly files: readonly string[];
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function entries(dir: string): Promise<{ dirs: string[]; images: string[] }> {
  let list;
  try {
    list = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(DatasetErrorCode.NotFound, `${dir}: cannot read the folder (${(err as Error).message})`, {
      cause: err,
    });
  }
  const visible = list.filter((e) => !e.name.startsWith('.'));
  return {
    dirs: visible
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(byCodePoint),
    images: visible
      .filter((e) => e.isFile() && isImageFile(e.name))
      .map((e) => join(dir, e.name))
      .sort(byCodePoint),
  };
}

/** Every image below `dir`, depth first in sorted order (as ImageFolder walks a class folder). */
async function imagesBelow(dir: string): Promise<string[]> {
  const { dirs, images } = await entries(dir);
  for (const sub of dirs) images.push(...(await imagesBelow(join(dir, sub))));
  return images;
}

const HEADER_BYTES = 65_536;

async function headerOf(path: string): Promise<ImageHeader> {
  let head: Uint8Array;
  try {
    const file = await open(path, 'r');
    try {
      const buf = new Uint8Array(HEADER_BYTES);
      const { bytesRead } = await file.read(buf, 0, HEADER_BYTES, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    throw new DatasetError(DatasetErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
      cause: err,
    });
  }
  // A JPEG whose metadata fills the first bytes is read whole.
  return readImageHeader(head, path, head.length < HEADER_BYTES) ?? readImageHeader(await readFile(path), path)!;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Loads a folder of PNG/JPEG images as a calibration set shaped like the model input. Class subfolders give
 * labels (sorted names → 0, 1, …); a flat folder is unlabelled. Samples are shuffled with a fixed seed so that a
 * split into head-training (first) and hold-out (last) parts mixes classes. Throws a one-line {@link DatasetError}
 * for a folder without images, images mixed with class folders, more classes than the model has, or an image
 * whose channels cannot be converted (e.g. colour for a 1-channel model without --calib-channels gray).
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolderSet> {
  const preprocess = options.preprocess ?? {};
  const target = imageTarget(options.inputShape, preprocess, dir);
  const top = await entries(dir);
  let files: string[];
  let labels: Int32Array | undefined;
  let classNames: string[] | undefined;
  const classDirs: { name: string; images: string[] }[] = [];
  for (const name of top.dirs) classDirs.push({ name, images: await imagesBelow(join(dir, name)) });
  const labelled = classDirs.filter((c) => c.images.length > 0);
  if (labelled.length > 0 && top.images.length > 0) {
    throw new DatasetError(
      DatasetErrorCode.Corrupt,
      `${dir}: has both images (${relative(dir, top.images[0]!)}) and class subfolders (${labelled[0]!.name}); use one class folder per label, or a flat folder of unlabelled images`,
    );
  }
  if (labelled.length > 0) {
    const empty = classDirs.find((c) => c.images.length === 0);
    if (empty !== undefined) {
      throw new DatasetError(
        DatasetErrorCode.Empty,
        `${dir}: class folder '${empty.name}' has no images (${IMAGE_EXTENSIONS.join(', ')}); every subfolder is a class`,
      );
    }
    classNames = classDirs.map((c) => c.name);
    if (options.classes !== undefined && classNames.length > options.classes) {
      throw new DatasetError(
        DatasetErrorCode.LabelRange,
        `${dir}: ${classNames.length} class subfolders (${classNames.slice(0, 5).join(', ')}${classNames.length > 5 ? ', …' : ''}), but the model's outputs have only ${options.classes} classes`,
      );
    }
    files = classDirs.flatMap((c) => c.images);
    labels = Int32Array.from(classDirs.flatMap((c, k) => c.images.map(() => k)));
  } else {
    files = top.images;
  }
  if (files.length === 0) {
    throw new DatasetError(
      DatasetErrorCode.Empty,
      `${dir}: no images (${IMAGE_EXTENSIONS.join(', ')}) in the folder or in class subfolders`,
    );
  }
  const headers = await mapLimit(files, 16, headerOf);
  headers.forEach((h, i) => checkImageFits(h, target, preprocess, files[i]!));

  // A fixed shuffle (Fisher–Yates): folders list classes one after another.
  const order = Uint32Array.from(files, (_, i) => i);
  const random = seededRandom(options.seed ?? 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const shuffled = Array.from(order, (i) => files[i]!);
  const shuffledLabels = labels === undefined ? undefined : Int32Array.from(order, (i) => labels[i]!);
  const size = target.sampleShape.reduce((a, b) => a * b, 1);
  const data = lazyCalibration({
    count: shuffled.length,
    sampleShape: target.sampleShape,
    labels: shuffledLabels,
    source: dir,
    async read(indices) {
      const out = new Float32Array(indices.length * size);
      await mapLimit(
        indices.map((index, k) => ({ index, k })),
        8,
        async ({ index, k }) => {
          const path = shuffled[index]!;
          let bytes: Uint8Array;
          try {
            bytes = await readFile(path);
          } catch (err) {
            throw new DatasetError(DatasetErrorCode.NotFound, `${path}: cannot read (${(err as Error).message})`, {
              cause: err,
            });
          }
          out.set(preprocessImage(decodeImage(bytes, path), target, preprocess, path), k * size);
        },
      );
      return out;
    },
  });
  return { ...data, classNames, files: shuffled };
}
