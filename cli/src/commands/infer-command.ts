import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../cli-context.js';
import { addPreprocessOptions, preprocessFrom, type PreprocessFlags } from './calibration-options.js';

/** Options of `cleave infer`, as parsed by commander. */
interface InferCommandOptions extends PreprocessFlags {
  agent: string;
  model: string;
  input?: string;
  size?: [number, number];
  top: number;
  labels?: string;
  json: boolean;
  timeout: number;
}

/** One output, as the agent answered it. */
interface OutputTensor {
  readonly dtype: string;
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

function parseSize(value: string): [number, number] {
  const match = /^(\d+)(?:[x×](\d+))?$/.exec(value.trim());
  const h = Number(match?.[1]);
  const w = Number(match?.[2] ?? match?.[1]);
  if (!match || !(h >= 1 && w >= 1 && h <= 65_536 && w <= 65_536)) {
    throw new InvalidArgumentError(`--size must be HxW (e.g. 64x64) or one size N, got '${value}'`);
  }
  return [h, w];
}

function parseAgentUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new InvalidArgumentError(`--agent must be an http(s) URL such as http://127.0.0.1:8470, got '${value}'`);
}

/** Class scores as probabilities: kept when they already are (non-negative, summing to 1), else softmax. */
function probabilities(row: readonly number[]): number[] {
  const sum = row.reduce((a, b) => a + b, 0);
  if (row.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3) return [...row];
  const max = Math.max(...row);
  const exp = row.map((v) => Math.exp(v - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / total);
}

/**
 * Lines describing one output: the top-k classes of each sample for a classifier ([N, K] or [K] floats, K ≥ 2),
 * its shape and value range otherwise.
 */
function describeOutput(
  name: string,
  tensor: OutputTensor,
  top: number,
  labels: readonly string[] | undefined,
): string[] {
  const values = Array.from(tensor.data, Number);
  const dims = tensor.dims;
  const head = `${name} ${tensor.dtype} [${dims.join(', ')}]`;
  const classes = dims.at(-1) ?? 0;
  const isClassifier = tensor.dtype === 'float32' && (dims.length === 1 || dims.length === 2) && classes >= 2;
  if (!isClassifier) {
    const min = values.reduce((a, b) => Math.min(a, b), Infinity);
    const max = values.reduce((a, b) => Math.max(a, b), -Infinity);
    return [`${head}: ${values.length} values, min ${min.toPrecision(4)}, max ${max.toPrecision(4)}`];
  }
  const lines = [head];
  for (let sample = 0; sample * classes < values.length; sample++) {
    const p = probabilities(values.slice(sample * classes, (sample + 1) * classes));
    const best = p
      .map((prob, k) => ({ prob, k }))
      .sort((a, b) => b.prob - a.prob)
      .slice(0, top);
    const ranked = best.map(({ prob, k }) => `${labels?.[k] ?? k} ${(prob * 100).toFixed(1)}%`).join(', ');
    lines.push(`  ${dims.length === 2 ? `sample ${sample}: ` : ''}top-${best.length}: ${ranked}`);
  }
  return lines;
}

/** The reply as plain JSON: typed arrays as arrays, int64 beyond 2^53 as decimal strings. */
function replyJson(result: object): string {
  return JSON.stringify(
    result,
    (_key, value: unknown) => {
      if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
      if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number | bigint>);
      return value;
    },
    2,
  );
}

/** Registers `cleave infer`: one file in, an agent's answer out. */
export function registerInferCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('infer')
    .description(
      "Send an image (PNG/JPEG), a .npy array or a JSON file to an edge agent's HTTP API and print the outputs: top-k for a classifier, shapes otherwise.",
    )
    .argument('<file>', 'PNG/JPEG image, .npy array, or .json (an API body, { dims, data }, or a nested array)')
    .requiredOption('--model <id>', 'required: the model id the agent serves (cleave edge --model)')
    .option('--agent <url>', "the agent's HTTP API (cleave edge --http-port)", parseAgentUrl, 'http://127.0.0.1:8470')
    .option('--input <name>', 'the model input the file feeds (required unless the JSON file is a whole API body)')
    .option(
      '--size <HxW>',
      "images: the model input's H×W, resized to as calibration does (default: the image's own size)",
      parseSize,
    )
    .option('--top <k>', 'classes shown per sample for a classifier', ctx.parseInteger('top', 1, 1000), 5)
    .option('--labels <file>', 'class names, one per line, in class-index order (an ImageFolder: its sorted folders)')
    .option('--json', "print the agent's whole reply as JSON instead", false)
    .option('--timeout <ms>', 'give up after this long', ctx.parseInteger('timeout', 1, 600_000), 30_000);
  addPreprocessOptions(command, ctx, '').action(async (file: string, opts: InferCommandOptions) => {
    const [{ EdgeClient }, { readInferInputs }] = await Promise.all([
      import('@cleave/edge-agent/client'),
      import('./infer-input.js'),
    ]);
    const preprocess = preprocessFrom(opts);
    const { inputs } = await readInferInputs(file, {
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.size !== undefined ? { size: opts.size } : {}),
      ...(preprocess !== undefined ? { preprocess } : {}),
    });
    const labels =
      opts.labels === undefined
        ? undefined
        : (
            await readFile(opts.labels, 'utf8').catch((error: unknown) => {
              throw new Error(`--labels ${opts.labels}: cannot read (${(error as Error).message})`, { cause: error });
            })
          )
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean);
    const client = new EdgeClient({ url: opts.agent, timeoutMs: opts.timeout });
    const result = await client.infer(opts.model, inputs).catch((error: unknown) => {
      // fetch says only "fetch failed": name the URL and the flag.
      if (error instanceof TypeError || (error as Error).name === 'TimeoutError') {
        const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
        throw new Error(`cannot reach the agent at ${opts.agent}: ${reason} (set --agent http://host:port)`, {
          cause: error,
        });
      }
      throw error;
    });
    if (opts.json) {
      process.stdout.write(`${replyJson(result)}\n`);
      return;
    }
    const where = result.ranOn === 'fallback' ? `fallback (${result.fallbackReason ?? 'unknown'})` : result.ranOn;
    const lines = [
      `${result.model} ${result.version} split ${result.split}: ran on ${where}${result.exit !== null ? `, exit ${result.exit}` : ''}, ${result.timings['totalMs']?.toFixed(1) ?? '?'} ms`,
      ...Object.entries(result.outputs).flatMap(([name, tensor]) => describeOutput(name, tensor, opts.top, labels)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
