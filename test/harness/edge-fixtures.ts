// Fixtures for the edge-agent suites: bundles of the example model with calibrated exits, an agent wired to a
// real NATS connection with its JSON log lines captured, real Fashion-MNIST samples, and full-model references.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { createEdgeAgent, type EdgeAgent, type EdgeConfigInput, resolveEdgeConfig } from '@cleave/edge-agent';
import {
  encodeOnnxModel,
  type LabelledImages,
  loadMnistSplit,
  loadOnnxModel,
  toUnitFloatBatch,
} from '@cleave/partitioner';
import { type BundleManifest, parseBundleManifest, type SplitCandidate } from '@cleave/proto';
import { testBundleTrust, testPublisher } from './bundle-signing.js';
import { reusedProfileArgs } from './reused-profiles.js';
import { runCleave } from './run-cli.js';

/** A bundle on disk with its parsed manifest. */
export interface EdgeBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly version: string;
}

/** Options of {@link buildEdgeBundle}. */
export interface EdgeBundleOptions {
  /** @default the example model with two built-in exits */
  readonly model?: string;
  /** RTT the plan assumes. @default 1 */
  readonly rttMs?: number;
  /** Calibrate exits on Fashion-MNIST train. @default true */
  readonly calibrate?: boolean;
  /** @default 3 */
  readonly runs?: number;
  /** Let the plan keep tails on the edge (staged execution). @default true */
  readonly edgeTails?: boolean;
  /** Sign the manifest with the test publisher (`--sign-key`); false leaves it unsigned. @default true */
  readonly sign?: boolean;
  /** Partition with this bundle's measured profiles (a variant of its graph): the plan keeps the same candidates. */
  readonly profilesFrom?: EdgeBundle;
}

/** Partitions a model with `cleave partition` (profiles measured on this machine) into `dir`. */
export async function buildEdgeBundle(dir: string, options: EdgeBundleOptions = {}): Promise<EdgeBundle> {
  const args = [
    'partition',
    options.model ?? EXAMPLE_MODEL_WITH_EXITS,
    '--out',
    dir,
    '--model-id',
    'fmnist',
    '--runs',
    String(options.runs ?? 3),
    '--rtt',
    String(options.rttMs ?? 1),
    '--force',
    ...(options.edgeTails === false ? ['--no-edge-tails'] : []),
    ...((options.sign ?? true) ? ['--sign-key', testPublisher().seedFile] : []),
    ...((options.calibrate ?? true) ? ['--calib', '/usr/share/datasets/fashion-mnist'] : []),
  ];
  if (options.profilesFrom !== undefined) {
    args.push(...(await reusedProfileArgs(options.profilesFrom.dir, options.model ?? EXAMPLE_MODEL_WITH_EXITS, dir)));
  }
  const result = await runCleave(args, { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`cleave partition failed (${result.code}): ${result.stderr}`);
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  return { dir, manifest, version: manifest.version };
}

/**
 * Writes a copy of the example model with exits whose final classifier bias is shifted (and, `retrained`, every
 * float weight scaled by 1 + shift/1000): the same graph, so the
 * same split points, but every tail computes different logits, so answers show which version produced them.
 */
export async function writeExitsVariantModel(
  path: string,
  shift = 0.75,
  options: { retrained?: boolean } = {},
): Promise<string> {
  const model = await loadOnnxModel(EXAMPLE_MODEL_WITH_EXITS);
  // A retrained model: every float weight moves a little too, so the shared weights file changes, not only graphs.
  if (options.retrained === true) {
    for (const tensor of model.graph.initializer ?? []) {
      if (tensor.dataType !== 1 || tensor.rawData === undefined || tensor.rawData === null) continue;
      const copy = new Uint8Array(tensor.rawData);
      const floats = new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
      floats.forEach((v, i) => (floats[i] = v * (1 + 1e-3 * shift)));
      tensor.rawData = copy;
    }
  }
  const bias = model.graph.initializer?.find((t) => t.name === 'classifier.3.bias');
  if (bias?.rawData === undefined || bias.rawData === null) throw new Error('example model has no classifier bias');
  const raw = new Uint8Array(bias.rawData);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  values.forEach((v, i) => (values[i] = v + shift * (i + 1)));
  bias.rawData = new Uint8Array(values.buffer);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, encodeOnnxModel(model.proto));
  return path;
}

/** A split candidate whose head computes no exit: every request on it crosses the wire. */
export function splitWithoutExits(manifest: BundleManifest): SplitCandidate {
  const found = manifest.candidates.find((c) => c.kind === 'split' && (c.exits ?? []).length === 0);
  if (found === undefined) throw new Error(`bundle ${manifest.version} has no split without exits`);
  return found;
}

/** The split whose head computes every exit, with the fastest measured head: exits answer most requests. */
export function splitWithAllExits(manifest: BundleManifest): SplitCandidate {
  const all = (manifest.exits ?? []).map((e) => e.output);
  const candidates = manifest.candidates
    .filter((c) => c.kind === 'split' && all.every((e) => (c.exits ?? []).includes(e)))
    .sort((a, b) => (a.profile.edge?.medianMs ?? 0) - (b.profile.edge?.medianMs ?? 0));
  if (candidates[0] === undefined) throw new Error(`bundle ${manifest.version} has no split computing every exit`);
  return candidates[0];
}

/** One captured log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** A pino-shaped logger that keeps every line (and prints nothing). */
export function captureLogger(): { lines: LogLine[]; info: Log; warn: Log; error: Log } {
  const lines: LogLine[] = [];
  const at =
    (level: string): Log =>
    (fields, msg) =>
      lines.push({ ...(fields as Record<string, unknown>), msg, level });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
type Log = (fields: object, msg: string) => void;

/** An agent under test. */
export interface TestAgent {
  readonly agent: EdgeAgent;
  /** The agent's own connection (through the link emulator when one is given). */
  readonly nc: NatsConnection | undefined;
  readonly logs: LogLine[];
  readonly cacheDir: string;
  close(): Promise<void>;
}

/**
 * Starts an agent. `natsUrl` undefined means no NATS at all (cache only). HTTP listens on a free port; the
 * configuration is whatever `config` adds to small, fast test defaults.
 */
export async function startTestAgent(options: {
  natsUrl: string | undefined;
  prefix: string;
  cacheDir?: string;
  config: Partial<EdgeConfigInput> & Pick<EdgeConfigInput, 'models'>;
}): Promise<TestAgent> {
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'cleave-edge-cache-')));
  const config = await resolveEdgeConfig({
    values: {
      agentId: 'gw-test',
      prefix: options.prefix,
      cacheDir,
      http: { port: 0 },
      heartbeatIntervalMs: 500,
      nats: { servers: [options.natsUrl ?? 'nats://127.0.0.1:1'], reconnectWaitMs: 200 },
      battery: { path: join(cacheDir, 'no-power-supply') },
      ...options.config,
      // Trusts the test publisher, whatever else the test sets under `bundles`.
      bundles: { ...testBundleTrust(), ...options.config.bundles },
    },
  });
  const nc =
    options.natsUrl === undefined
      ? undefined
      : // No async-trace errors per request, as `cleave edge` connects (edge-agent/src/config/nats-connect-options.ts).
        await connect({
          servers: options.natsUrl,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 200,
          noAsyncTraces: true,
        });
  const logger = captureLogger();
  const agent = createEdgeAgent({ config, logger, ...(nc === undefined ? {} : { nc }) });
  await agent.start();
  return {
    agent,
    nc,
    logs: logger.lines,
    cacheDir,
    async close() {
      await agent.close();
      await nc?.close();
    },
  };
}

let t10k: Promise<LabelledImages> | undefined;

/** `n` Fashion-MNIST t10k images from `offset`, one `[1, 1, 28, 28]` input each, with labels. */
export async function fashionSamples(n: number, offset = 0): Promise<{ images: Float32Array[]; labels: number[] }> {
  t10k ??= loadMnistSplit('t10k');
  const data = await t10k;
  const images = Array.from({ length: n }, (_, i) => toUnitFloatBatch(data, offset + i, offset + i + 1));
  const labels = Array.from({ length: n }, (_, i) => data.labels[offset + i]!);
  return { images, labels };
}

/** The full model's final output (`manifest.model.final`) for each image: what every answer must equal. */
export async function fullModelLogits(bundle: EdgeBundle, images: readonly Float32Array[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(join(bundle.dir, bundle.manifest.model.file), {
    intraOpNumThreads: 1,
  });
  const final = bundle.manifest.model.final ?? bundle.manifest.model.outputs.at(-1)!.name;
  const out: Float32Array[] = [];
  for (const image of images) {
    const result = await session.run({ input: new ort.Tensor('float32', image, [1, 1, 28, 28]) }, [final]);
    out.push(Float32Array.from(result[final]!.data as Float32Array));
  }
  await session.release();
  return out;
}

/** Index of the largest value. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Resolves when `predicate` holds, polling every `everyMs`; rejects with `what` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<number> {
  const started = performance.now();
  while (!(await predicate())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return performance.now() - started;
}
