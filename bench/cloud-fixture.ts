// What the cloud benches share: a mobilenet_v2 bundle (partitioned once, cached next to the fixture model), the
// choice of a mid split, a real cut tensor as the request payload, and closed- and open-loop load generators.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { type NatsConnection } from '@nats-io/transport-node';
import {
  decodeMessage,
  encodeMessage,
  encodeTensor,
  type Message,
  parseBundleManifest,
  PROTOCOL_VERSION,
  type SplitCandidate,
  tailSubject,
} from '@cleave/proto';
import { runCleave } from '../test/harness/run-cli.js';
import { ensureZooModel, ZOO_CACHE_DIR } from '../test/harness/zoo-models.js';

/** The bundle and split under test. */
export interface BenchTail {
  readonly dir: string;
  readonly model: string;
  readonly version: string;
  readonly split: SplitCandidate;
  /** Measured cloud time of the whole model at batch 1 (from the bundle's profile). */
  readonly wholeModelMs: number;
}

/** Partitions mobilenet_v2 once (cached) and picks the split whose tail does about half of the model's work. */
export async function prepareMobilenetTail(splitId?: string): Promise<BenchTail> {
  const modelPath = await ensureZooModel('mobilenet_v2');
  const dir = join(ZOO_CACHE_DIR, 'bundles', 'mobilenet_v2');
  try {
    await access(join(dir, 'manifest.json'));
  } catch {
    const args = ['partition', modelPath, '--out', dir, '--model-id', 'mobilenet_v2', '--runs', '5', '--force'];
    const res = await runCleave(args, { timeoutMs: 600_000 });
    if (res.code !== 0) throw new Error(`cleave partition failed: ${res.stderr}`);
  }
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  const whole = manifest.candidates.find((c) => c.kind === 'cloud-only')!;
  const wholeModelMs = whole.profile.cloud?.medianMs ?? 0;
  const splits = manifest.candidates.filter((c) => c.kind === 'split' && c.profile.cloud !== undefined);
  const split =
    splitId === undefined
      ? splits.reduce((best, c) =>
          Math.abs(c.profile.cloud!.medianMs - wholeModelMs / 2) <
          Math.abs(best.profile.cloud!.medianMs - wholeModelMs / 2)
            ? c
            : best,
        )
      : splits.find((c) => c.id === splitId);
  if (split === undefined) throw new Error(`no split ${splitId} in ${dir}`);
  return { dir, model: manifest.model.id, version: manifest.version, split, wholeModelMs };
}

/** One-sample cut tensors for `tail`, from running its head on a deterministic image. */
export async function cutTensors(tail: BenchTail): Promise<{ name: string; dims: number[]; data: Float32Array }[]> {
  const head = await ort.InferenceSession.create(join(tail.dir, tail.split.head!));
  const image = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2);
  const out = await head.run({ [head.inputNames[0]!]: new ort.Tensor('float32', image, [1, 3, 224, 224]) });
  await head.release();
  return tail.split.cut.map((name) => ({ name, dims: [...out[name]!.dims], data: out[name]!.data as Float32Array }));
}

/** An encoded infer request for `tail`'s subject carrying `cut`. */
export function requestPayload(tail: BenchTail, cut: Awaited<ReturnType<typeof cutTensors>>, id = 'bench'): Uint8Array {
  return encodeMessage({
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id,
    model: tail.model,
    version: tail.version,
    split: tail.split.id,
    tensors: cut.map((t) => encodeTensor(t.name, t.data, t.dims, 'f32')),
    sentAt: Date.now(),
  });
}

/** The subject of `tail` under `prefix`. */
export function benchSubject(tail: BenchTail, prefix: string): string {
  return tailSubject({ prefix, model: tail.model, version: tail.version, split: tail.split.id });
}

/** What a load run observed. */
export interface LoadResult {
  readonly seconds: number;
  readonly ok: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Latency of successful requests, ms, sorted. */
  readonly latencies: readonly number[];
  /** batchSize field of the successful replies. */
  readonly batchSizes: readonly number[];
  /** Time inside the replica (queueMs + processingMs of the replies), ms, sorted. */
  readonly serverLatencies: readonly number[];
  /** Per successful reply, in arrival order: seconds since the run started, time inside the replica, batch run time. */
  readonly timeline: readonly { readonly at: number; readonly serverMs: number; readonly runMs: number }[];
}

interface Tally {
  ok: number;
  errors: Record<string, number>;
  latencies: number[];
  batchSizes: number[];
  serverLatencies: number[];
  timeline: { at: number; serverMs: number; runMs: number }[];
  readonly start: number;
}

const tally = (): Tally => ({
  ok: 0,
  errors: {},
  latencies: [],
  batchSizes: [],
  serverLatencies: [],
  timeline: [],
  start: performance.now(),
});

function finish(result: Tally, seconds: number): LoadResult {
  const sort = (values: number[]) => [...values].sort((a, b) => a - b);
  return {
    ok: result.ok,
    errors: result.errors,
    batchSizes: result.batchSizes,
    timeline: result.timeline,
    seconds,
    latencies: sort(result.latencies),
    serverLatencies: sort(result.serverLatencies),
  };
}

function record(result: Tally, reply: Message, ms: number): void {
  if (reply.kind === 'infer_reply') {
    result.ok += 1;
    result.latencies.push(ms);
    result.batchSizes.push(reply.batchSize);
    result.serverLatencies.push(reply.queueMs + reply.processingMs);
    result.timeline.push({
      at: (performance.now() - result.start) / 1000,
      serverMs: reply.queueMs + reply.processingMs,
      runMs: reply.processingMs,
    });
  } else if (reply.kind === 'error') {
    result.errors[reply.code] = (result.errors[reply.code] ?? 0) + 1;
  }
}

/** `concurrency` clients, each sending its next request when the previous reply arrives, for `seconds`. */
export async function closedLoop(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const result = tally();
  const start = performance.now();
  const end = start + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        const reply = decodeMessage((await nc.request(subject, payload, { timeout: 30_000 })).data);
        record(result, reply, performance.now() - t);
      } catch (error) {
        result.errors[(error as Error).name] = (result.errors[(error as Error).name] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return finish(result, (performance.now() - start) / 1000);
}

/** Sends `rate` requests per second for `seconds` whatever the replies (an open loop), and gathers them. */
export async function openLoop(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  rate: number,
  seconds: number,
  timeoutMs: number,
): Promise<LoadResult> {
  const result = tally();
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < due; sent += 1) {
      const t = performance.now();
      pending.push(
        nc.request(subject, payload, { timeout: timeoutMs }).then(
          (msg) => record(result, decodeMessage(msg.data), performance.now() - t),
          (error: Error) => {
            result.errors[error.name] = (result.errors[error.name] ?? 0) + 1;
          },
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(pending);
  return finish(result, seconds);
}

/** Prints rows as an aligned table. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}
