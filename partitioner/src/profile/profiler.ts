import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { sha256Hex } from '@cleave/node-runtime';
import type { PerCodec } from '@cleave/proto';
import type { Candidate } from '../graph/candidates.js';
import type { OnnxModel } from '../onnx/onnx-model.js';
import { syntheticInput } from '../runtime/ort-tensors.js';
import { describeDevice, type DeviceDescriptor } from './device-descriptor.js';
import { timeEncoding } from './encode-timing.js';
import { summarise, type StageTiming } from './stage-timing.js';

/** Measured head and tail latency of one candidate on this machine. */
export interface CandidateTiming {
  readonly id: string;
  /** The wire tensor names, so profiles from two machines can be checked to describe the same candidates. */
  readonly wire: readonly string[];
  readonly head: StageTiming | null;
  readonly tail: StageTiming | null;
  /** Median ms to encode the cut tensors per codec on this machine (absent for edge-only and older profiles). */
  readonly encodeMs?: PerCodec<number>;
}

/** Median kernel time of one node of the whole model, from onnxruntime's own profiler. */
export interface NodeTiming {
  readonly node: string;
  readonly op: string;
  readonly medianUs: number;
}

/** A profile file: everything measured for one model on one machine. */
export interface ModelProfile {
  readonly format: 'cleave.profile/v1';
  readonly model: { readonly file: string; readonly sha256: string };
  readonly createdAt: string;
  readonly device: DeviceDescriptor;
  readonly settings: { readonly runs: number; readonly warmup: number; readonly batch: number };
  readonly candidates: readonly CandidateTiming[];
  readonly nodes: readonly NodeTiming[];
}

/** Options for {@link profileCandidates}. */
export interface ProfileOptions {
  /** Timed runs per stage. @default 20 */
  runs?: number;
  /** Untimed runs first, so allocation and caches settle. @default 3 */
  warmup?: number;
  /** Samples per run. @default 1 */
  batch?: number;
  /** onnxruntime intra-op threads. @default 1 */
  intraOpNumThreads?: number;
  /** Also profile each node of the whole model with onnxruntime's profiler. @default true */
  nodeBreakdown?: boolean;
  /** Called after each measured stage. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Runs each timed section (warm-up and runs of one stage, one codec timing): the CLI moves the process into an
   * emulated device's CPU quota for its length, so building graphs and sessions runs at full speed. @default runs it
   */
  timed?: <T>(section: () => Promise<T>) => Promise<T>;
}

async function timeStage(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  runs: number,
  warmup: number,
  batch: number,
): Promise<{ timing: StageTiming; outputs: ort.InferenceSession.ReturnType }> {
  let outputs = await session.run(feeds);
  for (let i = 1; i < warmup; i++) outputs = await session.run(feeds);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    outputs = await session.run(feeds);
    samples.push(performance.now() - t0);
  }
  return { timing: summarise(samples, batch), outputs };
}

/** Per-node kernel times of the whole model from onnxruntime's profiling JSON. */
async function nodeBreakdown(model: OnnxModel, runs: number, batch: number, threads: number): Promise<NodeTiming[]> {
  const dir = await mkdtemp(join(tmpdir(), 'cleave-ortprof-'));
  try {
    const session = await ort.InferenceSession.create(model.bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'ort'),
    });
    const feeds = Object.fromEntries(model.inputs.map((i) => [i.name, syntheticInput(i, batch, model.source)]));
    for (let i = 0; i < runs; i++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const files = await readdir(dir);
    const file = files.find((f) => f.endsWith('.json'));
    if (file === undefined) return [];
    const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as {
      cat?: string;
      name?: string;
      dur?: number;
      args?: { op_name?: string };
    }[];
    const byNode = new Map<string, { op: string; durs: number[] }>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
      const node = e.name.slice(0, -'_kernel_time'.length);
      const entry = byNode.get(node) ?? { op: e.args?.op_name ?? '', durs: [] };
      entry.durs.push(e.dur ?? 0);
      byNode.set(node, entry);
    }
    return [...byNode].map(([node, { op, durs }]) => ({ node, op, medianUs: summarise(durs, batch).medianMs }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Measures every candidate's head and tail on this machine with onnxruntime-node: warm-up, then
 * `runs` timed runs, reporting median and p90. The tail is fed the head's real outputs.
 */
export async function profileCandidates(
  model: OnnxModel,
  candidates: readonly Candidate[],
  options: ProfileOptions = {},
): Promise<ModelProfile> {
  const runs = options.runs ?? 20;
  const timed = options.timed ?? (<T>(section: () => Promise<T>) => section());
  const warmup = Math.max(1, options.warmup ?? 3);
  const batch = options.batch ?? 1;
  const threads = options.intraOpNumThreads ?? 1;
  const sessionOptions: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1 };
  const total = candidates.reduce((n, c) => n + (c.head ? 1 : 0) + (c.tail ? 1 : 0), 0);
  let done = 0;
  const inputFeeds = Object.fromEntries(model.inputs.map((i) => [i.name, syntheticInput(i, batch, model.source)]));
  const timings: CandidateTiming[] = [];
  for (const c of candidates) {
    let head: StageTiming | null = null;
    let tail: StageTiming | null = null;
    let tailFeeds: Record<string, ort.Tensor> = inputFeeds;
    if (c.head) {
      const session = await ort.InferenceSession.create(c.head(), sessionOptions);
      const measured = await timed(() => timeStage(session, inputFeeds, runs, warmup, batch));
      await session.release();
      head = measured.timing;
      tailFeeds = Object.fromEntries(c.wire.map((w) => [w.name, measured.outputs[w.name]!]));
      options.onProgress?.(++done, total);
    }
    let encodeMs: CandidateTiming['encodeMs'];
    if (c.tail) {
      const session = await ort.InferenceSession.create(c.tail(), sessionOptions);
      tail = (await timed(() => timeStage(session, tailFeeds, runs, warmup, batch))).timing;
      await session.release();
      encodeMs = await timed(() =>
        Promise.resolve(
          timeEncoding(
            c.wire.map((w) => [w.name, tailFeeds[w.name]!] as const),
            runs,
          ),
        ),
      );
      options.onProgress?.(++done, total);
    }
    timings.push({ id: c.id, wire: c.wire.map((w) => w.name), head, tail, ...(encodeMs ? { encodeMs } : {}) });
  }
  return {
    format: 'cleave.profile/v1',
    model: { file: model.source, sha256: sha256Hex(model.bytes) },
    createdAt: new Date().toISOString(),
    // Described from inside a timed section: the quota the stages ran under, not the one set-up ran under.
    device: await timed(() => describeDevice(threads)),
    settings: { runs, warmup, batch },
    candidates: timings,
    nodes:
      options.nodeBreakdown === false
        ? []
        : await timed(() => nodeBreakdown(model, Math.min(runs, 10), batch, threads)),
  };
}
