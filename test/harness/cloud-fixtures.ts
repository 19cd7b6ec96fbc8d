// Fixtures for the cloud-service suites: real bundles of the example model (two versions that differ only in the
// classifier bias, so every tail of one version computes different logits from the other), a reference run of
// head + tail with onnxruntime, and a small client for tail requests.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { EXAMPLE_MODEL_BACKBONE } from '@cleave/cli';
import { createTailService, type TailService, type TailServiceSettings } from '@cleave/cloud-service';
import { encodeOnnxModel, loadOnnxModel } from '@cleave/partitioner';
import {
  type Codec,
  DEADLINE_HEADER,
  decodeMessage,
  decodeTensor,
  encodeMessage,
  encodeTensor,
  type Message,
  parseBundleManifest,
  PROTOCOL_VERSION,
  seededRandom,
  type TailAddress,
  tailSubject,
} from '@cleave/proto';
import { testBundleTrust, testPublisher } from './bundle-signing.js';
import { reusedProfileArgs } from './reused-profiles.js';
import { runCleave } from './run-cli.js';

/** A bundle on disk and the facts tests need from its manifest. */
export interface TestBundle {
  readonly dir: string;
  readonly model: string;
  readonly version: string;
  /** Split candidates with a head and a tail, by id. */
  readonly splits: ReadonlyMap<string, { head: string; tail: string; cut: string[] }>;
}

/**
 * Partitions a model with `cleave partition` into `dir` (1 timed run per stage: profiles are not under test).
 * `profilesFrom` reuses another bundle's measured profiles, re-addressed to this model, for a variant of the same
 * graph: the plan then keeps the same candidates in both, where two noisy 1-run profiles could keep different ones.
 */
export async function buildExampleBundle(
  dir: string,
  modelPath = EXAMPLE_MODEL_BACKBONE,
  options: { profilesFrom?: TestBundle } = {},
): Promise<TestBundle> {
  const args = ['partition', modelPath, '--out', dir, '--model-id', 'fmnist', '--runs', '1', '--warmup', '1'];
  args.push('--sign-key', testPublisher().seedFile);
  if (options.profilesFrom !== undefined) {
    args.push(...(await reusedProfileArgs(options.profilesFrom.dir, modelPath, dir)));
  }
  const result = await runCleave([...args, '--force'], { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`cleave partition failed (${result.code}): ${result.stderr}`);
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  const splits = new Map<string, { head: string; tail: string; cut: string[] }>();
  for (const c of manifest.candidates) {
    if (c.kind !== 'split' || c.head === null || c.tail === null) continue;
    splits.set(c.id, { head: join(dir, c.head), tail: join(dir, c.tail), cut: c.cut });
  }
  return { dir, model: manifest.model.id, version: manifest.version, splits };
}

/** Writes a copy of the example model whose classifier bias is shifted, so it is a genuinely different version. */
export async function writeVariantModel(path: string, shift = 0.75): Promise<string> {
  const model = await loadOnnxModel(EXAMPLE_MODEL_BACKBONE);
  const bias = model.graph.initializer?.find((t) => t.name === 'net.classifier.3.bias');
  if (bias?.rawData === undefined || bias.rawData === null) throw new Error('example model has no classifier bias');
  const raw = new Uint8Array(bias.rawData);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  values.forEach((v, i) => (values[i] = v + shift * (i + 1)));
  bias.rawData = new Uint8Array(values.buffer);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, encodeOnnxModel(model.proto));
  return path;
}

/** Deterministic pseudo-images in [0, 1], `[n, 1, 28, 28]`. */
export function exampleImages(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n * 784 }, () => random());
}

// Reference sessions, created once per file for the whole test file.
const sessions = new Map<string, Promise<ort.InferenceSession>>();
function session(path: string): Promise<ort.InferenceSession> {
  let created = sessions.get(path);
  if (created === undefined) {
    created = ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    sessions.set(path, created);
  }
  return created;
}

/** Runs a split's head on images; returns the cut tensors (name, dims, data) in cut order. */
export async function runHead(
  bundle: TestBundle,
  split: string,
  images: Float32Array,
  n: number,
): Promise<{ name: string; dims: number[]; data: Float32Array }[]> {
  const head = await session(bundle.splits.get(split)!.head);
  const out = await head.run({ input: new ort.Tensor('float32', images, [n, 1, 28, 28]) });
  return bundle.splits
    .get(split)!
    .cut.map((name) => ({ name, dims: [...out[name]!.dims], data: out[name]!.data as Float32Array }));
}

/** Runs a split's tail locally on cut tensors: the reference the service must match. */
export async function runTailLocally(
  bundle: TestBundle,
  split: string,
  cut: readonly { name: string; dims: number[]; data: Float32Array }[],
): Promise<Float32Array> {
  const tail = await session(bundle.splits.get(split)!.tail);
  const feeds = Object.fromEntries(cut.map((t) => [t.name, new ort.Tensor('float32', t.data, t.dims)]));
  const out = await tail.run(feeds);
  return out['logits']!.data as Float32Array;
}

/** Builds an infer request for `address` carrying `cut`. */
export function inferRequest(
  address: TailAddress,
  id: string,
  cut: readonly { name: string; dims: number[]; data: Float32Array }[],
  options: { encoding?: Codec; deadline?: number } = {},
): Uint8Array {
  return encodeMessage({
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id,
    ...address,
    tensors: cut.map((t) => encodeTensor(t.name, t.data, t.dims, options.encoding ?? 'f32')),
    sentAt: Date.now(),
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
  });
}

/** Sends one tail request and decodes the reply. */
export async function requestTail(
  nc: NatsConnection,
  prefix: string,
  address: TailAddress,
  payload: Uint8Array,
  options: { timeoutMs?: number; deadlineHeader?: number; traceparent?: string } = {},
): Promise<Message> {
  const h = natsHeaders();
  if (options.deadlineHeader !== undefined) h.set(DEADLINE_HEADER, String(options.deadlineHeader));
  if (options.traceparent !== undefined) h.set('traceparent', options.traceparent);
  const reply = await nc.request(tailSubject({ prefix, ...address }), payload, {
    timeout: options.timeoutMs ?? 10_000,
    headers: h,
  });
  return decodeMessage(reply.data);
}

/** The logits of an infer reply as f32 (whatever codec it used). */
export function replyLogits(message: Message): Float32Array {
  if (message.kind !== 'infer_reply') throw new Error(`expected infer_reply, got ${JSON.stringify(message)}`);
  return decodeTensor(message.outputs[0]!).data;
}

/** Largest absolute difference between two arrays of the same length. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Service settings for tests: small bounds, one onnxruntime thread, no queue delay unless asked. */
export function testServiceSettings(
  prefix: string,
  replica: string,
  overrides: Partial<TailServiceSettings> = {},
): TailServiceSettings {
  return {
    prefix,
    replica,
    serviceVersion: '0.1.0',
    batching: { maxBatchSize: 16, maxQueueDelayUs: 1000, maxQueueRequests: 256 },
    maxInFlight: 1024,
    maxInFlightBytes: 256 * 1024 * 1024,
    maxTailBytes: 256 * 1024 * 1024,
    negativeCacheMs: 2000,
    decodeLimits: {},
    ort: { intraOpNumThreads: 1, interOpNumThreads: 1, allowSpinning: false },
    drainTimeoutMs: 10_000,
    bundleTrust: testBundleTrust(),
    ...overrides,
  };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** An in-process replica on its own connection; stop it with `close()` (which also closes the connection). */
export async function startTestReplica(
  url: string,
  settings: TailServiceSettings,
): Promise<{ service: TailService; nc: NatsConnection; close(): Promise<void> }> {
  const nc = await connect({ servers: url, name: settings.replica });
  const service = createTailService({ nc, settings, logger: quiet });
  await service.start();
  return {
    service,
    nc,
    async close() {
      await service.close();
      await nc.close();
    },
  };
}
