import { fileURLToPath } from 'node:url';

/** Repository root, found from this file's place in `cli/dist/`. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The bundled example model with its two built-in early exits. */
export const EXAMPLE_MODEL_WITH_EXITS = fileURLToPath(
  new URL('../../models/fmnist/fmnist-exits.onnx', import.meta.url),
);

/** The bundled example model, backbone only. */
export const EXAMPLE_MODEL_BACKBONE = fileURLToPath(new URL('../../models/fmnist/fmnist.onnx', import.meta.url));

/** The heavier example (models/fmnist-heavy/): about 21× the example's compute, 96×96 input, two built-in exits. */
export const HEAVY_EXAMPLE_WITH_EXITS = fileURLToPath(
  new URL('../../models/fmnist-heavy/fmnist-heavy-exits.onnx', import.meta.url),
);

/** The heavier example, backbone only. */
export const HEAVY_EXAMPLE_BACKBONE = fileURLToPath(
  new URL('../../models/fmnist-heavy/fmnist-heavy.onnx', import.meta.url),
);
