import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@cleave/cli';

const run = promisify(execFile);

/** Git-ignored directory where fixture models are regenerated on demand. */
export const ZOO_CACHE_DIR = join(REPO_ROOT, 'models', 'zoo', '.cache');

/** Debian's interpreter: the one with torch. The python3 on PATH may be a different build. */
const DEBIAN_PYTHON = '/usr/bin/python3';

/**
 * Returns the path of a torchvision fixture model (random weights, 224×224), exporting it with
 * Debian's PyTorch first if it is not cached yet.
 */
export async function ensureZooModel(name: string): Promise<string> {
  const path = join(ZOO_CACHE_DIR, `${name}.onnx`);
  try {
    await access(path);
    return path;
  } catch {
    await run(DEBIAN_PYTHON, [join(REPO_ROOT, 'models', 'zoo', 'export_zoo.py'), name, '--out-dir', ZOO_CACHE_DIR], {
      timeout: 300_000,
    });
    return path;
  }
}

/**
 * Returns the path of one of the product-brief model families (`tiny_yolov2`, `espnet_seg`, `posenet`,
 * `ds_cnn_kws`, `text_encoder`, `binarized_net`; random seeded weights, see models/zoo/README.md),
 * exporting it with Debian's PyTorch first if it is not cached yet.
 */
export async function ensureFamilyModel(name: string): Promise<string> {
  const path = join(ZOO_CACHE_DIR, `${name}.onnx`);
  try {
    await access(path);
    return path;
  } catch {
    await run(
      DEBIAN_PYTHON,
      [join(REPO_ROOT, 'models', 'zoo', 'export_families.py'), name, '--out-dir', ZOO_CACHE_DIR],
      {
        timeout: 300_000,
      },
    );
    return path;
  }
}
