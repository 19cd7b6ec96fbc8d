// The model the demo runs, described once from its ONNX input: its id, its input size, and how Fashion-MNIST's
// 28×28 images reach that size (bilinear upsampling, as the heavier example was trained). Calibration, the edge
// profile and the stream all read the images through the same preprocessing, so they agree sample for sample.
import { basename } from 'node:path';
import { loadCalibrationSet, loadOnnxModel, type CalibrationPreprocess } from '@cleave/partitioner';

/** Fashion-MNIST's own image size. */
const IDX_SIZE = 28;

/** What the demo needs to know of its model. */
export interface DemoModel {
  readonly path: string;
  /** Bundle and request model id: the file name without `.onnx` and a trailing `-exits`. */
  readonly id: string;
  readonly height: number;
  readonly width: number;
  /** Resize applied to the 28×28 images, or undefined when the model takes them as they are. */
  readonly resize: number | undefined;
}

/** One preprocessed image source the stream reads from. */
export interface DemoImages {
  readonly count: number;
  readonly labels: ArrayLike<number>;
  /** Image `index` as a [1, 1, H, W] float32 batch of 8-bit values (k / 255). */
  read(index: number): Promise<Float32Array>;
}

/** Reads the model's input and checks it takes one grey image of a fixed square size. */
export async function describeDemoModel(path: string): Promise<DemoModel> {
  const model = await loadOnnxModel(path);
  const shape = model.inputs[0]?.shape ?? [];
  const [, channels, height, width] = shape;
  if (
    model.inputs.length !== 1 ||
    shape.length !== 4 ||
    channels !== 1 ||
    typeof height !== 'number' ||
    height !== width ||
    height < IDX_SIZE
  ) {
    throw new Error(
      `--model ${path}: the demo streams Fashion-MNIST, so the model needs one input [N,1,S,S] with a fixed S ≥ 28, got [${shape.join(',')}]`,
    );
  }
  return {
    path,
    id: basename(path, '.onnx').replace(/-exits$/, ''),
    height,
    width: height,
    resize: height === IDX_SIZE ? undefined : height,
  };
}

/** The `--calib-*` preprocessing that brings the IDX images to the model's size, or undefined. */
export function demoPreprocess(model: DemoModel): CalibrationPreprocess | undefined {
  return model.resize === undefined ? undefined : { resize: model.resize };
}

/** A Fashion-MNIST split, preprocessed for `model`, read one image at a time. */
export async function loadDemoImages(model: DemoModel, dataDir: string, split: 'train' | 't10k'): Promise<DemoImages> {
  const preprocess = demoPreprocess(model);
  const set = await loadCalibrationSet(dataDir, {
    inputSpec: { dtype: 'float32', shape: [1, 1, model.height, model.width] },
    split,
    ...(preprocess ? { preprocess } : {}),
  });
  if (set.labels === undefined) throw new Error(`${dataDir}: the ${split} split has no labels`);
  return {
    count: set.count,
    labels: set.labels,
    // Rounded to 8 bits, as a camera at the model's resolution delivers its frames: the cloud-only codec can then
    // send the input exactly as bytes (u8-deflate) instead of float32.
    read: async (index) => (await set.readBatch(index, index + 1)).map((v) => Math.round(v * 255) / 255),
  };
}
