// What `cleave infer` sends: a file turned into the request's input tensors. Images are decoded and preprocessed
// by the same code that reads calibration folders (so a model sees at inference what it was calibrated on), .npy
// arrays by the calibration reader, JSON as the API's own body or as one tensor.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ClientTensor } from '@cleave/edge-agent/client';
import {
  type CalibrationPreprocess,
  decodeImage,
  imageTarget,
  isImageFile,
  preprocessImage,
  readNpyFile,
} from '@cleave/partitioner';

/** A file that cannot become a request: the message names the file or the flag. */
export class InferInputError extends Error {
  override readonly name = 'InferInputError';
}

/** How to turn the file into tensors (the `cleave infer` flags). */
export interface InferInputOptions {
  /** The model input the tensor feeds; required unless the file is a whole request body. */
  readonly input?: string;
  /** Model input H × W that images are resized to; default the image's own size (or --crop). */
  readonly size?: readonly [number, number];
  readonly preprocess?: CalibrationPreprocess;
}

/** What was read: the inputs, and for the report, where they came from. */
export interface InferInputs {
  readonly inputs: Readonly<Record<string, ClientTensor>>;
  readonly kind: 'image' | 'npy' | 'json';
}

function needInput(file: string, options: InferInputOptions): string {
  if (options.input === undefined || options.input === '') {
    throw new InferInputError(
      `${file}: --input <name> is required: the model input this tensor feeds (e.g. the input_names given to torch.onnx.export)`,
    );
  }
  return options.input;
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    throw new InferInputError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
}

/** An image as one sample of batch 1, [1, C, H, W] (or [1, H, W, C] with --layout nhwc). */
async function imageInputs(file: string, options: InferInputOptions): Promise<InferInputs> {
  const image = decodeImage(await readBytes(file), file);
  const preprocess: CalibrationPreprocess = { layout: 'nchw', ...options.preprocess };
  // Grey images feed 1-channel models unless --channels asks for colour; colour images need --channels gray.
  const channels = preprocess.channels === 'gray' || (preprocess.channels === undefined && !image.colour) ? 1 : 3;
  const [h, w] = options.size ?? (preprocess.crop !== undefined ? [null, null] : [image.height, image.width]);
  const shape = preprocess.layout === 'nhwc' ? [1, h, w, channels] : [1, channels, h, w];
  const target = imageTarget(shape, preprocess, file);
  const data = preprocessImage(image, target, preprocess, file);
  return {
    kind: 'image',
    inputs: { [needInput(file, options)]: { dims: [1, ...target.sampleShape], data: Array.from(data) } },
  };
}

async function npyInputs(file: string, options: InferInputOptions): Promise<InferInputs> {
  const array = await readNpyFile(file);
  // Plain values, without a dtype: the agent converts them to the model input's element type (and checks them).
  return {
    kind: 'npy',
    inputs: { [needInput(file, options)]: { dims: array.shape, data: Array.from(array.data as ArrayLike<number>) } },
  };
}

/** The dims of a nested array of numbers ([[1, 2], [3, 4]] → [2, 2]), or undefined when it is ragged. */
function nestedDims(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return typeof value === 'number' || typeof value === 'boolean' ? [] : undefined;
  if (value.length === 0) return undefined;
  const inner = value.map(nestedDims);
  const first = inner[0];
  if (first === undefined || inner.some((d) => d === undefined || d.join(',') !== first.join(','))) return undefined;
  return [value.length, ...first];
}

async function jsonInputs(file: string, options: InferInputOptions): Promise<InferInputs> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(await readBytes(file)));
  } catch (error) {
    if (error instanceof InferInputError) throw error;
    throw new InferInputError(`${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const shapes =
    '{ "inputs": { "<name>": { "dims": [...], "data": [...] } } } (an API body), { "dims", "data" } with --input, or a nested array with --input';
  if (Array.isArray(value)) {
    const dims = nestedDims(value);
    if (dims === undefined) throw new InferInputError(`${file}: a nested array must be rectangular numbers`);
    return { kind: 'json', inputs: { [needInput(file, options)]: { dims, data: value.flat(Infinity) as number[] } } };
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (typeof record['inputs'] === 'object' && record['inputs'] !== null && !Array.isArray(record['inputs'])) {
      // An API body: sent as written, so the agent's own checks name whatever is wrong in it.
      return { kind: 'json', inputs: record['inputs'] as Record<string, ClientTensor> };
    }
    if (Array.isArray(record['dims']) && Array.isArray(record['data'])) {
      return { kind: 'json', inputs: { [needInput(file, options)]: record as unknown as ClientTensor } };
    }
  }
  throw new InferInputError(`${file}: JSON must be ${shapes}`);
}

/** Reads `file` (PNG/JPEG, .npy or .json, by its extension) into request inputs. */
export function readInferInputs(file: string, options: InferInputOptions): Promise<InferInputs> {
  const ext = extname(file).toLowerCase();
  if (isImageFile(file)) return imageInputs(file, options);
  if (ext === '.npy') return npyInputs(file, options);
  if (ext === '.json') return jsonInputs(file, options);
  throw new InferInputError(
    `${file}: give a PNG or JPEG image, a .npy array or a .json file (got '${ext || 'no extension'}')`,
  );
}
